// The live demo: `arenacast serve --demo` serves /demo/, a page built from
// client-js/demo/main.ts that shows a simulated contest. Headless Chromium
// opens it, takes a screenshot and waits for the scoreboard to move.
// Needs ARENACAST_BIN. Every wait is for a condition, never a fixed sleep.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { bundleIsFresh } from '../demo/build.mjs';
import { launchBrowser } from './browser.mjs';
import { Server, devKey, serverBinary } from './server.mjs';

const T = { timeout: 60_000 };
let server;
let browser;

before(async () => {
  server = new Server(serverBinary());
  // The harness starts `arenacast serve` with its usual flags; the
  // environment adds --demo, --demo-key and --demo-seed (every flag has an ARENACAST_*
  // variable; the key's default path is relative to the repository).
  process.env.ARENACAST_DEMO = 'true';
  process.env.ARENACAST_DEMO_KEY = devKey;
  // A fixed seed: the simulated contest is the same on every run, so the
  // scoreboard changes below on every run, not almost always.
  process.env.ARENACAST_DEMO_SEED = '1';
  const started = await Promise.allSettled([server.start(), launchBrowser().then((b) => (browser = b))]);
  delete process.env.ARENACAST_DEMO;
  delete process.env.ARENACAST_DEMO_KEY;
  delete process.env.ARENACAST_DEMO_SEED;
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}, { timeout: 90_000 });

after(async () => {
  await browser?.close();
  await server?.close();
}, { timeout: 60_000 });

/** Waits for fn(arg) in the page; on timeout shows what the page and the server said. */
async function until(page, fn, arg, what) {
  try {
    await page.waitForFunction(fn, arg, { timeout: 30_000, polling: 100 });
  } catch (err) {
    const seen = await page
      .evaluate(() => ({
        board: document.querySelector('#conn-board')?.textContent,
        feed: document.querySelector('#conn-feed')?.textContent,
        rows: document.querySelectorAll('#scoreboard tbody tr').length,
        events: [...document.querySelectorAll('#feed li')].slice(0, 5).map((li) => `${li.dataset.id ?? '-'} ${li.textContent}`),
      }))
      .catch(() => 'page gone');
    throw new Error(`${what}: ${err.message}\npage: ${JSON.stringify(seen)}\nconsole: ${page.logs.join('\n')}\nserver: ${server.logs.join('').slice(-2000)}`);
  }
}

test('the demo page shows the live scoreboard and event feed, and the scoreboard moves', T, async (t) => {
  const page = await browser.context.newPage();
  page.logs = [];
  page.on('console', (m) => page.logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.logs.push(`pageerror: ${e.message}`));
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`http://${server.addr}/demo/`);

  await until(page, () => document.querySelectorAll('#scoreboard tbody tr').length === 12, null, 'the scoreboard rows');
  await until(
    page,
    () => ['#conn-board', '#conn-feed'].every((s) => document.querySelector(s).dataset.state === 'connected'),
    null,
    'both connections',
  );
  // A few events, so the screenshot shows a feed, and the private runs the
  // admin viewer sees.
  await until(page, () => document.querySelectorAll('#feed li.t-run_update').length >= 3, null, 'runs in the feed');
  const dir = mkdtempSync(join(tmpdir(), 'arenacast-demo-'));
  const shot = join(dir, 'demo.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`screenshot: ${shot}`);

  const board = () => page.$eval('#scoreboard tbody', (el) => el.textContent);
  const before = await board();
  await until(page, (b) => document.querySelector('#scoreboard tbody').textContent !== b, before, 'the scoreboard to change');
  assert.notEqual(await board(), before);
  await page.screenshot({ path: join(dir, 'demo-changed.png'), fullPage: true });

  const seen = await page.evaluate(() => ({
    head: [...document.querySelectorAll('#scoreboard thead th')].map((th) => th.textContent),
    places: [...document.querySelectorAll('#scoreboard tbody tr')].map((tr) => Number(tr.children[0].textContent)),
    board: document.querySelector('#conn-board').textContent,
    types: [...new Set([...document.querySelectorAll('#feed .type')].map((e) => e.textContent))],
  }));
  assert.deepEqual(seen.head, ['#', 'User', 'A', 'B', 'C', 'D', 'Solved', 'Penalty']);
  assert.equal(seen.places[0], 1);
  assert.deepEqual([...seen.places].sort((a, b) => a - b), seen.places, 'ranked best first');
  assert.match(seen.board, /connected · websocket/);
  assert.ok(seen.types.includes('run_update') && seen.types.includes('scoreboard_patch'), `feed types: ${seen.types}`);
  assert.deepEqual(page.logs.filter((l) => /^(error|pageerror)/.test(l)), [], 'no errors in the page');
  await page.close();
});

/** Opens the demo page at width × height and waits for both connections. */
async function openDemo(width, height) {
  const page = await browser.context.newPage();
  page.logs = [];
  page.on('console', (m) => page.logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.logs.push(`pageerror: ${e.message}`));
  await page.setViewportSize({ width, height });
  await page.goto(`http://${server.addr}/demo/`);
  await until(
    page,
    () => ['#conn-board', '#conn-feed'].every((s) => document.querySelector(s).dataset.state === 'connected'),
    null,
    'both connections',
  );
  return page;
}

/**
 * The feed lines of the events that every connection is delivered alike,
 * newest first: { id (the line's data-id), text }. Scoreboard lines are left
 * out: a scoreboard_patch waiting unsent in a connection's queue absorbs the
 * newer patches of its view (docs/protocol.md §8, "Slow viewers"; a resume's
 * replay is queued a page at a time, so its patches fold too), and a resume
 * may send a fresh board in place of patches; so which patch lines a page
 * shows, and what each says, depends on how busy that connection was, not
 * on the events. Runs, clarifications and contest updates are never folded.
 */
const eventLines = (page) =>
  page.$$eval('#feed li[data-id]:not(.t-scoreboard_patch):not(.t-scoreboard_update)', (lis) =>
    lis.map((li) => ({ id: li.dataset.id, text: li.textContent })),
  );

test('a new page opens with the recent events in its feed, problems named by letter and alias', T, async () => {
  const first = await openDemo(1280, 900);
  await until(first, () => document.querySelectorAll('#feed li.t-run_update').length >= 3, null, 'runs in the first page\'s feed');
  const seen = (await eventLines(first)).slice(0, 3);
  await first.close();
  assert.equal(seen.length, 3, `event lines with ids in the first page: ${JSON.stringify(seen)}`);

  // A fresh load: what the first page showed is there again, from history:
  // the same events (by id), shown the same way. A page without history
  // shows only events published after it loaded, newer than all of these.
  const second = await openDemo(1280, 900);
  await until(second, (old) => {
    const now = new Map([...document.querySelectorAll('#feed li[data-id]')].map((li) => [li.dataset.id, li.textContent]));
    return old.every(({ id, text }) => now.get(id) === text);
  }, seen, `the first page's newest events ${JSON.stringify(seen)} in the second page's feed`);
  const runs = await second.$$eval('#feed li.t-run_update .sum', (els) => els.map((e) => e.textContent));
  assert.ok(runs.length > 0 && runs.every((r) => /\b[A-D] (sum-two|grid-paths|brackets|orbits)\b/.test(r)), `runs name letter and alias: ${runs.slice(0, 5)}`);
  const legend = await second.$eval('#problems', (e) => e.textContent);
  assert.equal(legend, 'Problems: A sum-two · B grid-paths · C brackets · D orbits');
  assert.match(await second.$eval('.lead', (e) => e.textContent), /new round starts 10 seconds later/);
  assert.deepEqual(second.logs.filter((l) => /^(error|pageerror)/.test(l)), [], 'no errors in the page');
  await second.close();
});

test('at 390 px wide nothing overflows the page or its cards', T, async (t) => {
  const page = await openDemo(390, 844);
  await until(page, () => document.querySelectorAll('#scoreboard tbody tr').length === 12, null, 'the scoreboard rows');
  await until(page, () => document.querySelectorAll('#feed li').length >= 3, null, 'the feed');
  const shot = join(mkdtempSync(join(tmpdir(), 'arenacast-demo-')), 'demo-390.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`screenshot: ${shot}`);
  const over = await page.evaluate(() => {
    const out = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > doc.clientWidth) out.push(`page ${doc.scrollWidth} > ${doc.clientWidth}`);
    for (const el of document.querySelectorAll('section, .scroll, #feed li, header')) {
      const r = el.getBoundingClientRect();
      if (el.scrollWidth > el.clientWidth) out.push(`${el.tagName}.${el.className} content ${el.scrollWidth} > ${el.clientWidth}`);
      if (r.right > doc.clientWidth + 0.5) out.push(`${el.tagName}.${el.className} ends at ${r.right}`);
    }
    return out;
  });
  assert.deepEqual(over, []);
  await page.close();
});

// After the tests above, so their timing against the simulated contest
// stays as it was.
test('the demo page shows who is watching, from the admin channel\'s presence event', T, async () => {
  const page = await openDemo(1280, 900);
  // The page's own two connections are counted (the board link as a
  // scoreboard viewer, the feed as an admin); the event comes within the
  // node's presence interval (5 s).
  await until(
    page,
    () => Number(document.querySelector('#presence').dataset.viewers) >= 1 && Number(document.querySelector('#presence').dataset.admins) >= 1,
    null,
    'the presence counts',
  );
  assert.match(await page.$eval('#presence', (e) => e.textContent), /^Watching now: \d+ contestant connections? \(\d+ users?\), \d+ admin connections?, \d+ scoreboard viewers? · 1 node$/);
  assert.deepEqual(page.logs.filter((l) => /^(error|pageerror)/.test(l)), [], 'no errors in the page');
  await page.close();
});

test('the committed demo bundle is what client-js/demo/main.ts builds to (run `make demo-assets`)', async () => {
  assert.ok(await bundleIsFresh(), 'broadcaster/demo/static/demo.js is stale: run `make demo-assets` and commit it');
});
