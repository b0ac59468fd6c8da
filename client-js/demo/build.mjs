// Bundles the demo page (demo/main.ts and the client sources it imports)
// into ../broadcaster/demo/static/demo.js, which the Go binary embeds.
//
//   node demo/build.mjs          write the bundle (npm run build:demo type-checks first)
//   import { bundleDemo } ...    the bundle as a string, for the staleness test
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const here = import.meta.dirname ?? new URL('.', import.meta.url).pathname;

/** Where the committed bundle lives. */
export const bundlePath = resolve(here, '../../broadcaster/demo/static/demo.js');

const banner = '// Generated from client-js/demo/main.ts by `make demo-assets`. Do not edit.';

/** Returns the bundle's text. The options pin everything that affects the output. */
export async function bundleDemo() {
  const r = await build({
    entryPoints: [join(here, 'main.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    legalComments: 'none',
    charset: 'utf8',
    banner: { js: banner },
    logLevel: 'silent',
  });
  return r.outputFiles[0].text;
}

/** Whether the committed bundle equals a fresh build. */
export async function bundleIsFresh() {
  let committed = '';
  try {
    committed = readFileSync(bundlePath, 'utf8');
  } catch {}
  return committed === (await bundleDemo());
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(bundlePath, await bundleDemo());
  console.log(`wrote ${bundlePath}`);
}
