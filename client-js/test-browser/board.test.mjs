// Live keyed scoreboards (protocol section 8) end to end: the real
// `arenacast serve`, headless Chromium, and a Vue page on useEventStream
// (boards=patch). The test publishes a 500-row board and 1,000 patches over
// POST /publish and computes the board it expects itself, with a second,
// simpler implementation of the publishing rules (JSON Merge Patch, set,
// positions, fields). Needs ARENACAST_BIN. Every wait is for a condition.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser } from './browser.mjs';
import { startPages } from './pages.mjs';
import { Server, serverBinary } from './server.mjs';

let server;
let pages;
let browser;

before(async () => {
  server = new Server(serverBinary());
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

/** A small seeded PRNG (mulberry32), so every run publishes the same patches. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const isObj = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7396, as written in the RFC's pseudocode. */
function mergePatch(target, patch) {
  if (!isObj(patch)) return patch;
  const out = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * The publisher's own board, kept by the rules of section 8 "Publishing":
 * rows (merge patch or null), set (whole row, replaces or appends),
 * positions (listed rows at their indices, the others in their order in
 * the free places), fields (merge patch over the other members).
 */
class ExpectedBoard {
  constructor(data) {
    this.key = data.row_key;
    this.fields = Object.fromEntries(Object.entries(data).filter(([k]) => k !== 'rows'));
    this.rows = data.rows.map((r) => ({ ...r }));
  }
  at(k) {
    return this.rows.findIndex((r) => r[this.key] === k);
  }
  apply(p) {
    for (const [k, v] of Object.entries(p.rows ?? {})) {
      const i = this.at(k);
      if (v === null) this.rows.splice(i, 1);
      else this.rows[i] = mergePatch(this.rows[i], v);
    }
    for (const [k, row] of Object.entries(p.set ?? {})) {
      const i = this.at(k);
      if (i < 0) this.rows.push(row);
      else this.rows[i] = row;
    }
    if (p.positions) {
      const placed = new Array(this.rows.length);
      for (const [k, i] of Object.entries(p.positions)) placed[i] = this.rows[this.at(k)];
      const rest = this.rows.filter((r) => !(r[this.key] in p.positions));
      for (let i = 0; i < placed.length; i++) if (placed[i] === undefined) placed[i] = rest.shift();
      this.rows = placed;
    }
    if (p.fields) {
      const f = mergePatch(this.fields, p.fields);
      this.fields = f;
    }
  }
  data() {
    return { ...this.fields, rows: this.rows };
  }
}

/** A 500-row board, and patches generated against it that always fit. */
function scenario(seed, nPatches) {
  const rnd = prng(seed);
  const pick = (n) => Math.floor(rnd() * n);
  const team = (i) => `team${String(i).padStart(4, '0')}`;
  const rows = [];
  for (let i = 0; i < 500; i++) rows.push({ team: team(i), solved: 0, penalty: 0, cells: { A: 0, B: 0, C: 0 } });
  const initial = { row_key: 'team', problems: ['A', 'B', 'C'], minute: 0, banner: 'started', rows };
  const exp = new ExpectedBoard(initial);
  let next = 500;
  const patches = [];
  for (let n = 1; n <= nPatches; n++) {
    const p = { fields: { minute: n } };
    if (n % 50 === 0) p.fields.banner = n % 100 === 0 ? null : `minute ${n}`;
    const keys = () => exp.rows.map((r) => r.team);
    const r = rnd();
    if (r < 0.55) {
      // Row merges on 1-3 rows: counters, a nested cell, sometimes a member removed.
      p.rows = {};
      for (let j = 1 + pick(3); j > 0; j--) {
        const k = keys()[pick(exp.rows.length)];
        const row = exp.rows[exp.at(k)];
        const m = { solved: row.solved + 1, penalty: row.penalty + pick(60), cells: { [['A', 'B', 'C'][pick(3)]]: 1 + pick(4) } };
        if (rnd() < 0.2) m.note = row.note ? null : 'frozen';
        p.rows[k] = m;
      }
    } else if (r < 0.65 && exp.rows.length > 495) {
      p.rows = { [keys()[pick(exp.rows.length)]]: null };
    } else if (r < 0.75) {
      const k = rnd() < 0.5 ? team(next++) : keys()[pick(exp.rows.length)];
      p.set = { [k]: { team: k, solved: pick(5), penalty: pick(300), cells: { A: pick(2), B: pick(2), C: pick(2) } } };
    }
    if (rnd() < 0.6) {
      // Moves of 1-3 rows, the board's size after rows and set.
      const size = exp.rows.length + Object.keys(p.set ?? {}).filter((k) => exp.at(k) < 0).length - Object.values(p.rows ?? {}).filter((v) => v === null).length;
      const gone = new Set(Object.entries(p.rows ?? {}).filter(([, v]) => v === null).map(([k]) => k));
      const cand = [...keys(), ...Object.keys(p.set ?? {})].filter((k, i, a) => !gone.has(k) && a.indexOf(k) === i);
      p.positions = {};
      const used = new Set();
      for (let j = 1 + pick(3); j > 0; j--) {
        const k = cand[pick(cand.length)];
        let at = pick(size);
        while (used.has(at)) at = (at + 1) % size;
        used.add(at);
        p.positions[k] = at;
      }
    }
    exp.apply(p);
    patches.push(p);
  }
  return { initial, patches, expected: exp.data(), changed: patches.map((p) => Object.keys(p.rows ?? {}).length + Object.keys(p.set ?? {}).length) };
}

test('a 500-row board and 1,000 patches arrive identical, across a reload, with no fetch and only changed rows re-rendered', { timeout: 240_000 }, async (t) => {
  const alias = 'boards';
  const channel = `/contest/${alias}`;
  const { initial, patches, expected, changed } = scenario(12, 1000);
  const token = await server.token(['--user', 'alice', '--contest', alias]);
  await server.publish({ type: 'scoreboard_update', channel, public: true, data: initial });

  const page = await browser.context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  const q = new URLSearchParams({ alias, url: server.eventsUrl, token });
  await page.goto(`${pages.origin}/board.html?${q}`);
  const until = async (fn, arg, what) => {
    try {
      await page.waitForFunction(fn, arg, { timeout: 120_000, polling: 100 });
    } catch (err) {
      const seen = await page.evaluate(() => ({ version: window.boardPage?.version(), counts: window.boardPage?.counts })).catch(() => 'page gone');
      throw new Error(`${what}: ${err.message}\npage: ${JSON.stringify(seen)}\nconsole: ${logs.slice(-20).join('\n')}\nserver: ${server.logs.join('').slice(-2000)}`);
    }
  };
  await until(() => document.querySelectorAll('#board tr').length === 500, null, 'the first board');

  const ids = [];
  for (let i = 0; i < patches.length; i++) {
    ids.push(await server.publish({ type: 'scoreboard_patch', channel, public: true, data: patches[i] }));
    if (i === 499) {
      // Reload mid-stream; publishing goes on while the page comes back.
      await page.reload({ waitUntil: 'commit' });
    }
  }
  const last = ids.at(-1);
  await until((id) => window.boardPage?.version() === id, last, `the board at the last patch ${last}`);
  const seen = await page.evaluate(() => ({ snap: window.boardPage.snapshot(), counts: window.boardPage.counts, rows: document.querySelectorAll('#board tr').length }));
  assert.equal(seen.snap.view, 'public');
  assert.equal(seen.snap.board.rows.length, expected.rows.length);
  assert.deepEqual(seen.snap.board.rows.map((r) => r.team), expected.rows.map((r) => r.team), 'rows in order');
  assert.deepEqual(seen.snap.board, expected, 'the page board equals the publisher board');
  assert.equal(seen.rows, expected.rows.length, 'the table shows every row');
  assert.equal(seen.counts.fetchScoreboard, 0, 'fetchScoreboard never called');
  assert.equal(seen.counts.fetch, 0, 'window.fetch never called');
  // After the reload the page started from a board at firstVersion; from
  // then on a row renders again only when a patch changed it.
  const first = seen.counts.firstVersion;
  assert.ok(BigInt(first) >= BigInt(ids[499]), `the reloaded page started at ${first}, after the reload point ${ids[499]}`);
  const changedAfter = ids.reduce((n, id, i) => (BigInt(id) > BigInt(first) ? n + changed[i] : n), 0);
  const rerenders = seen.counts.rowRenders - seen.counts.initialRows;
  t.diagnostic(`reloaded page started at ${first} (reload after ${ids[499]}, last ${last}); ${rerenders} row re-renders for ${changedAfter} changed rows; ${expected.rows.length} rows`);
  assert.ok(rerenders <= changedAfter, `${rerenders} row re-renders for ${changedAfter} changed rows`);
  assert.ok(rerenders > 0 || changedAfter === 0, 'rows did re-render');
  assert.deepEqual(logs.filter((l) => /^(error|pageerror)/.test(l)), []);
  await page.close();
});

test('a gap gets a fresh board (since + snapshot:true), and a server restart resumes; the board stays the publisher\'s', { timeout: 240_000 }, async (t) => {
  const own = new Server(serverBinary());
  await own.start();
  const page = await browser.context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  try {
    const alias = 'gaps';
    const channel = `/contest/${alias}`;
    const { initial } = scenario(34, 0);
    const exp = new ExpectedBoard(initial);
    // Patches generated against the expected board as it goes, so they fit
    // whatever came before.
    const rnd = prng(99);
    const nextPatch = (n) => {
      const keys = exp.rows.map((r) => r.team);
      const k = keys[Math.floor(rnd() * keys.length)];
      const row = exp.rows[exp.at(k)];
      const p = { rows: { [k]: { solved: row.solved + 1, cells: { B: n } } }, fields: { minute: n } };
      if (rnd() < 0.5) p.positions = { [k]: Math.floor(rnd() * keys.length) };
      exp.apply(p);
      return p;
    };
    let n = 0;
    let last;
    const send = async (count) => {
      for (let i = 0; i < count; i++) last = await own.publish({ type: 'scoreboard_patch', channel, public: true, data: nextPatch(++n) });
    };
    const until = async (fn, arg, what) => {
      try {
        await page.waitForFunction(fn, arg, { timeout: 60_000, polling: 50 });
      } catch (err) {
        const seen = await page.evaluate((ch) => ({ board: harness.board(ch)?.version, replies: harness.replies, errors: harness.errors, states: harness.states }), channel).catch(() => 'page gone');
        throw new Error(`${what}: ${err.message}\npage: ${JSON.stringify(seen)}\nconsole: ${logs.slice(-20).join('\n')}\nserver: ${own.logs.join('').slice(-2000)}`);
      }
    };
    const atLast = (what) => until(([ch, id]) => harness.board(ch)?.version === id, [channel, last], what);
    const same = async (what) => {
      const b = await page.evaluate((ch) => harness.board(ch), channel);
      assert.deepEqual(b.data, exp.data(), what);
    };

    const token = await own.token(['--user', 'alice', '--contest', alias]);
    last = await own.publish({ type: 'scoreboard_update', channel, public: true, data: initial });
    await page.goto(`${pages.origin}/client.html`);
    await page.evaluate((cfg) => harness.start(cfg), { url: own.eventsUrl, token, channels: [channel], boards: 'patch', gated: true, transports: ['websocket'] });
    await atLast('the first board');
    await send(30);
    await atLast('30 patches');
    await same('after 30 patches');

    // A missed patch, as the client sees it: the board's version falls
    // behind, so the next patch's base does not match.
    const before = await page.evaluate(() => ({ replies: harness.replies.length, boards: harness.events.filter((e) => e.type === 'scoreboard_update').length }));
    await page.evaluate((ch) => (harness.client.getSubscription(ch).boardOf('public').version = '2'), channel);
    await send(30);
    await atLast('the board after the gap');
    await same('after the gap');
    const afterGap = await page.evaluate(() => ({ replies: harness.replies.slice(-1), nReplies: harness.replies.length, boards: harness.events.filter((e) => e.type === 'scoreboard_update').length }));
    assert.equal(afterGap.nReplies, before.replies + 1, 'one more subscribe, answered');
    assert.equal(afterGap.replies[0].recovered, true);
    assert.equal(afterGap.boards, before.boards + 1, 'one fresh board');

    // The server restarts; patches published meanwhile arrive by resume.
    await page.evaluate(() => (harness.gate.closed = true));
    await own.restart();
    await until(() => harness.client.state === 'connecting', null, 'the page to notice the restart');
    await send(30);
    await page.evaluate(() => (harness.gate.closed = false));
    await atLast('the board after the restart');
    await same('after the restart');
    await send(10);
    await atLast('live patches after the restart');
    await same('at the end');
    const end = await page.evaluate(() => ({ subscribed: harness.subscribed.at(-1), boards: harness.events.filter((e) => e.type === 'scoreboard_update').length, errors: harness.errors }));
    t.diagnostic(`after the restart: ${JSON.stringify(end.subscribed)}, ${end.boards} full boards in all`);
    assert.equal(end.subscribed.resumed, true);
    assert.deepEqual(end.errors, []);
  } finally {
    await page.close();
    await own.close();
  }
});

test('over SSE (?boards=patch) the board is kept from patches too; opaque boards carry jitter_ms', { timeout: 120_000 }, async () => {
  const alias = 'sseboards';
  const channel = `/contest/${alias}`;
  const token = await server.token(['--user', 'alice', '--contest', alias]);
  const { initial, patches, expected } = scenario(56, 150);
  await server.publish({ type: 'scoreboard_update', channel, public: true, data: initial });
  const page = await browser.context.newPage();
  await page.goto(`${pages.origin}/client.html?nows=1`);
  await page.evaluate((cfg) => harness.start(cfg), { url: server.eventsUrl, token, channels: [channel], boards: 'patch' });
  await page.waitForFunction((ch) => harness.board(ch) !== null, channel, { timeout: 60_000 });
  let last;
  for (const p of patches) last = await server.publish({ type: 'scoreboard_patch', channel, public: true, data: p });
  await page.waitForFunction(([ch, id]) => harness.board(ch)?.version === id, [channel, last], { timeout: 60_000 });
  const seen = await page.evaluate((ch) => ({ board: harness.board(ch), transports: harness.transports, types: [...new Set(harness.events.map((e) => e.type))] }), channel);
  assert.deepEqual(seen.transports, ['sse']);
  assert.deepEqual(seen.types.sort(), ['scoreboard_patch', 'scoreboard_update']);
  assert.deepEqual(seen.board.data, expected);

  // An opaque board on another contest: delivered as published, with jitter_ms.
  const opaque = '/contest/opaque';
  const t2 = await server.token(['--user', 'alice', '--contest', 'opaque']);
  const p2 = await browser.context.newPage();
  await p2.goto(`${pages.origin}/client.html`);
  await p2.evaluate((cfg) => harness.start(cfg), { url: server.eventsUrl, token: t2, channels: [opaque] });
  await p2.waitForFunction((ch) => harness.subscribed.some((s) => s.channel === ch), opaque);
  const id = await server.publish({ type: 'scoreboard_update', channel: opaque, public: true, data: { scoreboard_url: '/api/sb' } });
  await p2.waitForFunction((id) => harness.ids().includes(id), id);
  const ev = await p2.evaluate(() => harness.events.at(-1));
  assert.deepEqual(ev.data, { scoreboard_url: '/api/sb' });
  assert.equal(ev.view, 'public');
  assert.ok(ev.jitterMs > 0 && ev.jitterMs <= 60_000, `jitter_ms ${ev.jitterMs}`);
  await p2.close();
  await page.close();
});
