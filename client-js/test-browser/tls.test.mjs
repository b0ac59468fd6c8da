// Browser test of TLS and HTTP/2 on --listen: headless Chromium, trusting
// only a self-signed certificate this test makes, opens several EventSource
// streams to an HTTPS node; all receive the events, and the browser's own
// network log (DevTools protocol) shows they shared one HTTP/2 connection.
// A WebSocket to the same node works beside them (over HTTP/1.1).
// Needs ARENACAST_BIN and openssl (make js-deps installs it when missing).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { launchBrowser } from './browser.mjs';
import { startPages } from './pages.mjs';
import { Server, serverBinary } from './server.mjs';

const run = promisify(execFile);
const STREAMS = 4;
let dir;
let server;
let pages;
let browser;
let spki;

/** A P-256 self-signed certificate for 127.0.0.1, valid for a day. */
async function makeCert(dir) {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { timeout: 30_000 });
  const caPEM = readFileSync(cert, 'utf8');
  // Chromium trusts a certificate by the SHA-256 of its public key (SPKI).
  const der = new X509Certificate(caPEM).publicKey.export({ type: 'spki', format: 'der' });
  return { cert, key, caPEM, spki: createHash('sha256').update(der).digest('base64') };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arenacast-tls-'));
  const tls = await makeCert(dir);
  spki = tls.spki;
  server = new Server(serverBinary(), { tls });
  const started = await Promise.allSettled([
    startPages().then((p) => (pages = p)),
    // Only this certificate is accepted: any other certificate error stays one.
    launchBrowser({ args: [`--ignore-certificate-errors-spki-list=${spki}`] }).then((b) => (browser = b)),
    server.start(),
  ]);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}, { timeout: 90_000 });

after(async () => {
  await browser?.close();
  await pages?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, { timeout: 60_000 });

test(`${STREAMS} EventSource streams share one HTTP/2 connection to an HTTPS node and all receive the events; a WebSocket works beside them`, { timeout: 120_000 }, async () => {
  const channel = '/contest/h2';
  const token = await server.token(['--user', 'alice', '--contest', 'h2']);
  const { status, body } = await server.post('/events/ticket', token);
  assert.equal(status, 200, `ticket: ${JSON.stringify(body)}`);

  const page = await browser.context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  // The browser's network log: protocol and connection of every response.
  const cdp = await browser.context.newCDPSession(page);
  const responses = [];
  cdp.on('Network.responseReceived', (e) => responses.push({ url: e.response.url, type: e.type, protocol: e.response.protocol, connection: e.response.connectionId }));
  // A WebSocket handshake answered 101 ran over HTTP/1.1 (over HTTP/2, RFC
  // 8441, it would be a 200 to a CONNECT).
  const wsHandshakes = [];
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => wsHandshakes.push(e.response.status));
  await cdp.send('Network.enable');
  await page.goto(`${pages.origin}/client.html`);

  const url = `${server.baseUrl}/events/?channel=${encodeURIComponent(channel)}&ticket=${encodeURIComponent(body.ticket)}`;
  await page.evaluate(({ url, n, ws, token, channel }) => {
    window.seen = { events: [], subscribed: 0, errors: [], ws: [] };
    window.streams = [];
    for (let i = 0; i < n; i++) {
      const es = new EventSource(url);
      es.addEventListener('subscribed', () => window.seen.subscribed++);
      es.addEventListener('run_update', (e) => window.seen.events.push({ stream: i, id: e.lastEventId }));
      es.onerror = () => window.seen.errors.push(i);
      window.streams.push(es);
    }
    const sock = new WebSocket(ws);
    sock.onopen = () => {
      sock.send(JSON.stringify({ type: 'auth', token }));
      sock.send(JSON.stringify({ type: 'subscribe', channel }));
    };
    sock.onmessage = (e) => {
      for (const line of e.data.split('\n')) window.seen.ws.push(JSON.parse(line));
    };
    window.sock = sock;
  }, { url, n: STREAMS, ws: server.eventsUrl, token, channel });

  const until = async (fn, arg, what) => {
    try {
      await page.waitForFunction(fn, arg, { timeout: 30_000, polling: 50 });
    } catch (err) {
      const seen = await page.evaluate(() => window.seen).catch(() => 'page gone');
      throw new Error(`${what}: ${err.message}\npage saw: ${JSON.stringify(seen)}\nconsole: ${logs.join('\n')}\nresponses: ${JSON.stringify(responses)}\nserver: ${server.logs.join('')}`);
    }
  };
  await until((n) => window.seen.subscribed === n, STREAMS, 'every stream subscribed');
  await until(() => window.seen.ws.some((m) => m.type === 'subscribed'), undefined, 'the WebSocket subscribed');

  const ids = [];
  for (const guid of ['h2-1', 'h2-2']) {
    ids.push(await server.publish({ type: 'run_update', channel, user: 'alice', public: false, data: { guid, verdict: 'AC' } }));
  }
  await until(({ n, ids }) => ids.every((id) => window.seen.events.filter((e) => e.id === id).length === n), { n: STREAMS, ids }, 'both events on every stream');
  await until((ids) => ids.every((id) => window.seen.ws.some((m) => m.id === id)), ids, 'both events on the WebSocket');
  const seen = await page.evaluate(() => window.seen);
  for (let i = 0; i < STREAMS; i++) {
    assert.deepEqual(seen.events.filter((e) => e.stream === i).map((e) => e.id), ids, `stream ${i} got both events in order`);
  }
  assert.deepEqual(seen.errors, [], 'no stream errored');

  const streams = responses.filter((r) => r.type === 'EventSource' && r.url.startsWith(server.baseUrl));
  assert.equal(streams.length, STREAMS, `responses: ${JSON.stringify(responses)}`);
  assert.deepEqual([...new Set(streams.map((r) => r.protocol))], ['h2'], 'every stream over HTTP/2');
  assert.equal(new Set(streams.map((r) => r.connection)).size, 1, `one connection for all streams: ${JSON.stringify(streams)}`);
  assert.deepEqual(wsHandshakes, [101], 'the WebSocket handshake was HTTP/1.1 (101 Switching Protocols)');
  assert.deepEqual(logs.filter((l) => /^(error|pageerror)/.test(l)), []);

  await page.evaluate(() => { window.streams.forEach((es) => es.close()); window.sock.close(); });
  await page.close();
});
