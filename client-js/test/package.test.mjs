// The package as an app gets it (client-js/README.md, "Using it in an
// app"): `npm pack` holds the built entry points, the README and the
// Apache-2.0 LICENSE, and an app that unpacks it into node_modules imports
// '@arenacast/client' by name. Runs after `npm run build` (npm test).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');

test('npm pack makes a tarball an app can import @arenacast/client from', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'arenacast-pack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // dist/ is fresh from npm test's build; --ignore-scripts skips the prepack rebuild.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, timeout: 60_000 });
  const [info] = JSON.parse(stdout);
  const files = info.files.map((f) => f.path);
  for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/vue.js', 'dist/vue.d.ts']) {
    assert.ok(files.includes(f), `${f} is in the tarball: ${files.join(' ')}`);
  }
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test')), `only the build: ${files.join(' ')}`);

  const app = join(dir, 'app');
  const pkg = join(app, 'node_modules', '@arenacast', 'client');
  mkdirSync(pkg, { recursive: true });
  await run('tar', ['-xzf', join(dir, info.filename), '-C', pkg, '--strip-components=1']);
  const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
  assert.equal(manifest.license, 'Apache-2.0');
  assert.match(readFileSync(join(pkg, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004/);
  writeFileSync(join(app, 'main.mjs'), "import { ArenacastClient } from '@arenacast/client';\nconsole.log(typeof ArenacastClient);\n");
  const out = await run(process.execPath, ['main.mjs'], { cwd: app, timeout: 30_000 });
  assert.equal(out.stdout.trim(), 'function');
});
