import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { test } from 'node:test';
import { CcsFeedError, followCcsFeed } from '../dist/index.js';

// A feed server on loopback: 30 notifications, tokens "1".."30"; each
// connection ends after a few lines, the last one cut in half.
async function feedServer({ status = 200 } = {}) {
  const lines = Array.from({ length: 30 }, (_, i) => JSON.stringify({ type: 'submissions', id: `s${i + 1}`, data: { id: `s${i + 1}` }, token: String(i + 1) }));
  const requests = [];
  const srv = createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    requests.push({ since: u.searchParams.get('since_token'), types: u.searchParams.get('types'), auth: req.headers.authorization });
    if (status !== 200) {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end('{"code":400,"message":"no"}');
      return;
    }
    const since = Number(u.searchParams.get('since_token') ?? 0);
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    const rest = lines.slice(since);
    if (rest.length === 0) {
      res.write('\n'); // idle: keep-alive only; stays open
      return;
    }
    const n = Math.min(rest.length, 7);
    res.write(rest.slice(0, n).join('\n') + '\n\n');
    if (n < rest.length) {
      res.write(rest[n].slice(0, 10)); // a partial line, then the connection drops
      setTimeout(() => res.socket.destroy(), 5);
    }
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { srv, requests, url: `http://127.0.0.1:${srv.address().port}/api/contests/wf/event-feed` };
}

test('followCcsFeed delivers every notification once, in order, resuming with since_token after drops', async () => {
  const { srv, requests, url } = await feedServer();
  const got = [];
  let feed;
  const all = new Promise((resolve) => {
    feed = followCcsFeed({ url, token: 'tok', types: ['submissions'], minReconnectDelay: 1, maxReconnectDelay: 5 }, (n) => {
      got.push(n.id);
      if (got.length === 30) resolve();
    });
  });
  await all;
  feed.stop();
  await feed.done;
  srv.closeAllConnections();
  srv.close();
  assert.deepEqual(got, Array.from({ length: 30 }, (_, i) => `s${i + 1}`));
  assert.equal(feed.sinceToken, '30');
  assert.ok(requests.length >= 5, `only ${requests.length} connections`);
  assert.deepEqual(requests.slice(0, 2).map((r) => r.since), [null, '7']);
  assert.ok(requests.every((r) => r.auth === 'Bearer tok' && r.types === 'submissions'));
});

test('followCcsFeed stops on a refusal with CcsFeedError', async () => {
  const { srv, url } = await feedServer({ status: 400 });
  const feed = followCcsFeed({ url, sinceToken: '999', minReconnectDelay: 1 }, () => assert.fail('no notification expected'));
  await assert.rejects(feed.done, (err) => err instanceof CcsFeedError && err.status === 400);
  srv.close();
});
