// Browser tests: headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) runs the client against the real `arenacast serve`.
// Needs ARENACAST_BIN. Every wait is for a condition, never a fixed sleep.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser } from './browser.mjs';
import { startPages } from './pages.mjs';
import { Server, serverBinary } from './server.mjs';

const T = { timeout: 60_000 };
let bin;
let server;
let pages;
let browser;

before(async () => {
  bin = serverBinary();
  server = new Server(bin);
  // Keep each handle as soon as it exists, so after() can close it even when
  // another start failed.
  const started = await Promise.allSettled([
    startPages().then((p) => (pages = p)),
    launchBrowser().then((b) => (browser = b)),
    server.start(),
  ]);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}, { timeout: 90_000 });

after(async () => {
  await browser?.close();
  await pages?.close();
  await server?.close();
}, { timeout: 60_000 });

async function clientPage(query = '') {
  const page = await browser.context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  page.logs = logs;
  await page.goto(`${pages.origin}/client.html${query}`);
  return page;
}

/** Waits for fn(arg) to be true in the page; on timeout shows what the page saw. */
async function until(page, fn, arg, what) {
  try {
    await page.waitForFunction(fn, arg, { timeout: 30_000, polling: 50 });
  } catch (err) {
    const seen = await page.evaluate(() => ({
      states: harness.states,
      transports: harness.transports,
      subscribed: harness.subscribed,
      errors: harness.errors,
      events: harness.events.map((e) => `${e.type}#${e.id}`),
    })).catch(() => 'page gone');
    throw new Error(`${what}: ${err.message}\npage saw: ${JSON.stringify(seen)}\nconsole: ${page.logs.join('\n')}`);
  }
}

const run = (channel, user, guid, extra = {}) => ({ type: 'run_update', channel, user, public: false, data: { guid, verdict: 'AC', ...extra } });

test('a page receives a run_update live over WebSocket, and not other users\' runs', T, async () => {
  const channel = '/contest/live';
  const token = await server.token(['--user', 'alice', '--contest', 'live']);
  const page = await clientPage();
  await page.evaluate((cfg) => harness.start(cfg), { url: server.eventsUrl, token, channels: [channel] });
  await until(page, (ch) => harness.subscribed.some((s) => s.channel === ch), channel, 'subscribed');
  const bobs = await server.publish(run(channel, 'bob', 'bob-run'));
  const id = await server.publish(run(channel, 'alice', 'alice-run'));
  await until(page, (id) => harness.ids('run_update').includes(id), id, 'the run_update');
  const seen = await page.evaluate(() => ({ events: harness.events, transports: harness.transports, state: harness.client.state }));
  assert.deepEqual(seen.transports, ['websocket']);
  assert.equal(seen.state, 'connected');
  assert.deepEqual(seen.events.map((e) => e.id), [id], `bob's private run ${bobs} must not arrive`);
  assert.deepEqual(seen.events[0].data, { guid: 'alice-run', verdict: 'AC' });
  await page.close();
});

test('with WebSocket unavailable the page receives the same events over SSE', T, async () => {
  const channel = '/contest/ssetest';
  const token = await server.token(['--user', 'alice', '--contest', 'ssetest']);
  const page = await clientPage('?nows=1');
  assert.equal(await page.evaluate(() => typeof window.WebSocket), 'undefined');
  await page.evaluate((cfg) => harness.start(cfg), { url: server.eventsUrl, token, channels: [channel, '/user/alice'] });
  await until(page, (ch) => harness.subscribed.some((s) => s.channel === ch), channel, 'subscribed over SSE');
  const ids = [];
  ids.push(await server.publish(run(channel, 'alice', 's1')));
  await server.publish(run(channel, 'bob', 'bob-private'));
  ids.push(await server.publish({ type: 'clarification', channel, public: true, data: { clarification_id: 1, message: 'hi' } }));
  ids.push(await server.publish(run('/user/alice', 'alice', 's2')));
  await until(page, (ids) => ids.every((id) => harness.ids().includes(id)), ids, 'the events over SSE');
  const seen = await page.evaluate(() => ({ events: harness.events, transports: harness.transports }));
  assert.deepEqual(seen.transports, ['sse']);
  assert.deepEqual(seen.events.map((e) => e.id), ids, 'in order, exactly once, nothing private of bob');
  assert.deepEqual(seen.events.map((e) => e.type), ['run_update', 'clarification', 'run_update']);

  // A new subscription restarts the stream. This one is refused (alice is no
  // admin): the client drops it, restarts without it and resumes by id.
  const subscribedBefore = await page.evaluate(() => harness.subscribed.length);
  await page.evaluate((ch) => harness.client.subscribe(ch), `${channel}/admin`);
  await until(page, (ch) => harness.errors.some((e) => e.channel === ch), `${channel}/admin`, 'the refusal of the admin channel');
  await until(page, (n) => harness.subscribed.length >= n + 2, subscribedBefore, 'the restarted stream');
  const more = await server.publish(run(channel, 'alice', 's3'));
  await until(page, (id) => harness.ids().includes(id), more, 'an event on the restarted stream');
  const after = await page.evaluate(() => ({ ids: harness.ids(), subscribed: harness.subscribed, transports: harness.transports, errors: harness.errors }));
  assert.deepEqual(after.ids, [...ids, more], 'the resumed stream repeats nothing');
  assert.deepEqual(after.subscribed.slice(-2).map((s) => [s.channel, s.resumed, s.recovered]).sort(), [
    [channel, true, true],
    ['/user/alice', true, true],
  ]);
  assert.equal(after.errors.find((e) => e.channel === `${channel}/admin`).code, 'unauthorized');
  assert.ok(after.transports.every((t) => t === 'sse'), `only SSE: ${after.transports}`);
  await page.close();
});

test('the server restarts mid-test and the page resumes with no missed and no repeated event', T, async () => {
  const channel = '/contest/restart';
  const own = new Server(bin);
  await own.start();
  try {
    const token = await own.token(['--user', 'alice', '--contest', 'restart']);
    const page = await clientPage();
    // The gate lets the test hold the page's reconnects until events were
    // published to the restarted server, so they can only arrive by resume.
    await page.evaluate((cfg) => harness.start(cfg), { url: own.eventsUrl, token, channels: [channel], gated: true, transports: ['websocket'] });
    await until(page, (ch) => harness.subscribed.some((s) => s.channel === ch), channel, 'subscribed');
    const before = [];
    for (let i = 0; i < 3; i++) before.push(await own.publish(run(channel, 'alice', `before-${i}`)));
    await until(page, (ids) => ids.every((id) => harness.ids().includes(id)), before, 'events before the restart');

    await page.evaluate(() => (harness.gate.closed = true));
    await own.restart();
    await until(page, () => harness.client.state === 'connecting', null, 'the page to notice the restart');
    const during = [];
    for (let i = 0; i < 3; i++) during.push(await own.publish(run(channel, 'alice', `during-${i}`)));
    assert.ok(BigInt(during[0]) > BigInt(before[2]), `ids continue after a restart: ${before} then ${during}`);
    await page.evaluate(() => (harness.gate.closed = false));

    await until(page, (ids) => ids.every((id) => harness.ids().includes(id)), during, 'events published while the page was away');
    const live = await own.publish(run(channel, 'alice', 'after'));
    await until(page, (id) => harness.ids().includes(id), live, 'a live event after the resume');

    const seen = await page.evaluate(() => ({ ids: harness.ids(), subscribed: harness.subscribed, resyncs: harness.resyncs }));
    assert.deepEqual(seen.ids, [...before, ...during, live]);
    assert.deepEqual(seen.subscribed.at(-1), { channel, resumed: true, recovered: true });
    assert.deepEqual(seen.resyncs, []);
    await page.close();
  } finally {
    await own.close();
  }
});

test('a page with 100 subscriptions gets every one back after a reconnect, and their events by resume', T, async () => {
  const own = new Server(bin);
  await own.start();
  try {
    const token = await own.token(['--user', 'root', '--site-admin']);
    const channels = Array.from({ length: 100 }, (_, i) => `/problem/many-${i}`);
    const page = await clientPage();
    await page.evaluate((cfg) => harness.start(cfg), { url: own.eventsUrl, token, channels, gated: true, transports: ['websocket'] });
    await until(page, (n) => new Set(harness.subscribed.map((s) => s.channel)).size === n, channels.length, '100 subscribed');
    // One event on each channel gives each a position to resume from.
    const before = [];
    for (const ch of channels) before.push(await own.publish({ type: 'run_update', channel: ch, public: true, data: { guid: `before-${ch}` } }));
    await until(page, (ids) => ids.every((id) => harness.ids().includes(id)), before, 'an event on every channel');

    await page.evaluate(() => (harness.gate.closed = true));
    await own.restart();
    await until(page, () => harness.client.state === 'connecting', null, 'the page to notice the restart');
    const during = [];
    for (const ch of channels) during.push(await own.publish({ type: 'run_update', channel: ch, public: true, data: { guid: `during-${ch}` } }));
    await page.evaluate(() => (harness.gate.closed = false));

    await until(page, (ids) => ids.every((id) => harness.ids().includes(id)), during, 'the events of every channel by resume');
    const seen = await page.evaluate(() => ({ subscribed: harness.subscribed, errors: harness.errors, resyncs: harness.resyncs, ids: harness.ids() }));
    const again = seen.subscribed.slice(100);
    assert.equal(again.length, 100, 'each channel subscribed once more');
    assert.ok(again.every((s) => s.resumed && s.recovered), JSON.stringify(again.filter((s) => !s.recovered)));
    assert.deepEqual(seen.errors.filter((e) => e.source === 'subscribe'), [], 'no subscribe was refused or dropped');
    assert.deepEqual(seen.resyncs, []);
    // In order within each channel (channels resume side by side), each event once.
    const byNum = (a, b) => (BigInt(a) < BigInt(b) ? -1 : 1);
    assert.deepEqual([...seen.ids].sort(byNum), [...before, ...during], 'every event exactly once');
    await page.close();
  } finally {
    await own.close();
  }
});

test('token_expired from the server makes the page fetch a new token and re-auth on the same connection', T, async () => {
  const channel = '/contest/refresh';
  const page = await clientPage();
  const minted = [];
  // The first token lives 62 s, so the server says token_expired (60 s before
  // expiry) about 2 s after it was sent; later ones live an hour.
  await page.exposeFunction('mintToken', async () => {
    const t = await server.token(['--user', 'alice', '--contest', 'refresh', '--ttl', minted.length === 0 ? '62s' : '1h']);
    minted.push(t);
    return t;
  });
  await page.evaluate((cfg) => harness.start(cfg), { url: server.eventsUrl, getToken: true, channels: [channel] });
  await until(page, (ch) => harness.subscribed.some((s) => s.channel === ch), channel, 'subscribed');
  await until(page, () => harness.authenticated.length >= 2, null, 'a second auth_success after token_expired');
  const id = await server.publish(run(channel, 'alice', 'after-refresh'));
  await until(page, (id) => harness.ids().includes(id), id, 'an event after the refresh');
  const seen = await page.evaluate(() => ({ states: harness.states, auth: harness.authenticated, errors: harness.errors }));
  assert.equal(minted.length, 2);
  assert.deepEqual(seen.states, ['connecting', 'connected'], 'the connection was kept');
  assert.ok(seen.errors.some((e) => e.code === 'token_expired'), JSON.stringify(seen.errors));
  assert.ok(seen.auth[1].expires - seen.auth[0].expires > 3000, `the new expiry is later: ${JSON.stringify(seen.auth)}`);
  await page.close();
});

test('an anonymous page on a public scoreboard link gets scoreboard updates and nothing private', T, async () => {
  const contest = '/contest/pub';
  const sbToken = await server.token(['--scoreboard', 'pub']);
  const channel = `/scoreboard/${sbToken}`;
  const page = await clientPage();
  await page.evaluate((cfg) => harness.start(cfg), { url: server.eventsUrl, channels: [channel] });
  await until(page, (ch) => harness.subscribed.some((s) => s.channel === ch), channel, 'subscribed without a login');
  await server.publish(run(contest, 'alice', 'private-run'));
  await server.publish({ type: 'run_update', channel: contest, public: true, data: { guid: 'public-run' } });
  await server.publish({ type: 'clarification', channel: contest, public: true, data: { clarification_id: 9 } });
  await server.publish({ type: 'scoreboard_update', channel: contest, public: false, data: { ranking: ['admin view'] } });
  const cu = await server.publish({ type: 'contest_update', channel: contest, public: true, data: { event: 'extended' } });
  const sb = await server.publish({ type: 'scoreboard_update', channel: contest, public: true, data: { ranking: [{ username: 'alice', total: 100 }] } });
  await until(page, (id) => harness.ids().includes(id), sb, 'the public scoreboard update');
  const seen = await page.evaluate(() => harness.events);
  assert.deepEqual(seen.map((e) => [e.type, e.id, e.channel]), [
    ['contest_update', cu, channel],
    ['scoreboard_update', sb, channel],
  ]);
  assert.deepEqual(seen[1].data, { ranking: [{ username: 'alice', total: 100 }] });
  await page.close();
});

test('a Vue page using useEventStream renders the scoreboard and the user\'s runs', T, async () => {
  const alias = 'vue';
  const channel = `/contest/${alias}`;
  const token = await server.token(['--user', 'alice', '--contest', alias]);
  // A snapshot is waiting before the page subscribes.
  await server.publish({ type: 'scoreboard_update', channel, public: true, data: { scoreboard: { ranking: [{ username: 'alice', total: 100 }] } } });
  const page = await browser.context.newPage();
  const q = new URLSearchParams({ alias, url: server.eventsUrl, token, user: 'alice' });
  await page.goto(`${pages.origin}/vue.html?${q}`);
  await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'connected');
  await page.waitForFunction(() => document.querySelector('#scoreboard')?.textContent === 'alice100');
  await server.publish({
    type: 'scoreboard_update',
    channel,
    public: true,
    data: { scoreboard: { ranking: [{ username: 'bob', total: 300 }, { username: 'alice', total: 200 }] } },
  });
  await server.publish(run(channel, 'alice', 'v1', { username: 'alice' }));
  await page.waitForFunction(() => document.querySelectorAll('#scoreboard tr').length === 2);
  await page.waitForFunction(() => document.querySelector('#runs')?.textContent === 'v1:AC');
  const rows = await page.$$eval('#scoreboard tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(rows, [['bob', '300'], ['alice', '200']]);
  await page.close();
});
