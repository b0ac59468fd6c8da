// Bundles the test pages with esbuild and serves them from 127.0.0.1 on an
// ephemeral port: the pages then talk cross-origin to the broadcaster.
import { createServer } from 'node:http';
import { join } from 'node:path';
import { build } from 'esbuild';

const here = import.meta.dirname ?? new URL('.', import.meta.url).pathname;

async function bundle(entry) {
  const r = await build({
    entryPoints: [join(here, 'pages', entry)],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    logLevel: 'silent',
    define: {
      'process.env.NODE_ENV': '"production"',
      __VUE_OPTIONS_API__: 'false',
      __VUE_PROD_DEVTOOLS__: 'false',
      __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    },
  });
  return r.outputFiles[0].text;
}

const html = (script) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>arenacast test</title></head>` +
  `<body><div id="app"></div><script src="${script}"></script></body></html>`;

/** Starts the page server; returns { origin, close }. */
export async function startPages() {
  const files = new Map([
    ['/client.html', { type: 'text/html', body: html('/client.js') }],
    ['/vue.html', { type: 'text/html', body: html('/vue-app.js') }],
    ['/client.js', { type: 'text/javascript', body: await bundle('client-page.js') }],
    ['/vue-app.js', { type: 'text/javascript', body: await bundle('vue-app.js') }],
    ['/board.html', { type: 'text/html', body: html('/board-app.js') }],
    ['/board-app.js', { type: 'text/javascript', body: await bundle('board-app.js') }],
  ]);
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/favicon.ico') {
      res.writeHead(204).end(); // No console error for the browser's own request.
      return;
    }
    const f = files.get(path);
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': `${f.type}; charset=utf-8`, 'Cache-Control': 'no-store' }).end(f.body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(r)),
  };
}
