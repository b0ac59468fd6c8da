// Starts and stops the real `arenacast serve` binary for the browser tests,
// mints tokens with `arenacast token`, and publishes over HTTP.
import { spawn, execFile } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait.mjs';

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..');
/** The dev keys the server verifies with and the token command signs with. */
export const devKeys = join(repoRoot, 'testdata/devkeys');
export const devKey = join(devKeys, 'dev.pem');

const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** The server binary, from ARENACAST_BIN. */
export function serverBinary() {
  const bin = process.env.ARENACAST_BIN;
  if (!bin) throw new Error('ARENACAST_BIN is not set: build it with `go build -o /tmp/arenacast ./cmd/arenacast` and export ARENACAST_BIN=/tmp/arenacast');
  if (!existsSync(bin)) throw new Error(`ARENACAST_BIN=${bin} does not exist`);
  return resolve(bin);
}

/**
 * A running server; restart() brings it back on the same port and data dir.
 * args adds serve flags; with tls ({ cert, key, ca } PEM file paths and the
 * CA's PEM text) it serves TLS and publish() trusts that CA.
 */
export class Server {
  constructor(bin, { args = [], tls } = {}) {
    this.bin = bin;
    this.extraArgs = args;
    this.tls = tls;
    this.dir = mkdtempSync(join(tmpdir(), 'arenacast-browser-'));
    this.dataDir = join(this.dir, 'data');
    this.addrFile = join(this.dir, 'addr');
    this.addr = undefined;
    this.child = undefined;
    this.logs = [];
  }

  /** Starts the server on listen (default an ephemeral port) and waits until it listens. */
  async start(listen = '127.0.0.1:0') {
    rmSync(this.addrFile, { force: true });
    this.logs = [];
    const child = spawn(
      this.bin,
      [
        'serve',
        '--listen', listen,
        '--data-dir', this.dataDir,
        '--keys', devKeys,
        '--allowed-origins', 'localhost:*,127.0.0.1:*',
        '--addr-file', this.addrFile,
        '--shutdown-drain', '200ms',
        '--log-level', 'info',
        ...(this.tls ? ['--tls-cert', this.tls.cert, '--tls-key', this.tls.key] : []),
        ...this.extraArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.add(child);
    this.child = child;
    const keep = (b) => {
      this.logs.push(b.toString());
      if (this.logs.length > 200) this.logs.shift();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let exited = null;
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      children.delete(child);
    });
    this.addr = await waitFor(
      () => {
        if (exited) throw new Error(`arenacast serve exited (${JSON.stringify(exited)}):\n${this.logs.join('')}`);
        if (existsSync(this.addrFile)) return readFileSync(this.addrFile, 'utf8').trim() || false;
        // Fallback while --addr-file is not honoured: the startup log line.
        const m = /msg="arenacast listening" addr=(127\.0\.0\.1:\d+)/.exec(this.logs.join(''));
        return m ? m[1] : false;
      },
      { timeout: Number(process.env.ARENACAST_START_TIMEOUT || 30_000), what: "arenacast serve to listen" },
    );
    return this.addr;
  }

  /** Stops the server with SIGTERM (clients get close 4000) and waits for it to exit. */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await gone;
    clearTimeout(t);
  }

  /** Stops and starts again on the same address with the same history. */
  async restart() {
    const addr = this.addr;
    await this.stop();
    return this.start(addr);
  }

  /** Stops the server and removes its files. */
  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The /events/ URL for pages. */
  get eventsUrl() {
    return `${this.tls ? 'wss' : 'ws'}://${this.addr}/events/`;
  }

  /** The node's base URL: http:// or, with TLS, https://. */
  get baseUrl() {
    return `${this.tls ? 'https' : 'http'}://${this.addr}`;
  }

  /** POSTs body to path with a bearer token; returns { status, body } (JSON). */
  async post(path, token, body) {
    if (!this.tls) {
      const res = await fetch(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      return { status: res.status, body: await res.json().catch(() => ({})) };
    }
    // fetch cannot be told to trust one CA; node:https can.
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${this.baseUrl}${path}`, {
        method: 'POST',
        ca: this.tls.caPEM,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        timeout: 15_000,
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let parsed = {};
          try { parsed = JSON.parse(text); } catch {}
          resolve({ status: res.statusCode, body: parsed });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`POST ${path} timed out`)));
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /** Mints a token: token(['--user', 'alice', '--contest', 'demo']). */
  async token(args) {
    // ARENACAST_KEY and the repository as working directory make the key
    // found even where --key is not honoured.
    const { stdout } = await run(this.bin, ['token', '--key', devKey, ...args], {
      timeout: 30_000,
      cwd: repoRoot,
      env: { ...process.env, ARENACAST_KEY: devKey },
    });
    return stdout.trim();
  }

  /** POSTs an event to /publish and returns its id. */
  async publish(event) {
    if (!this.publisher) this.publisher = await this.token(['--user', 'publisher', '--publish']);
    const { status, body } = await this.post('/publish', this.publisher, event);
    if (status !== 202) throw new Error(`publish answered ${status}: ${JSON.stringify(body)}`);
    return body.id;
  }
}
