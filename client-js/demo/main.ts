/**
 * The page `arenacast serve --demo` serves at /demo/: a live scoreboard
 * from a public scoreboard link (no login) and an event feed from the
 * contest channel as a contest admin. Bundled by demo/build.mjs into
 * broadcaster/demo/static/demo.js.
 *
 * @module
 */

import { ArenacastClient, type KeyedBoard, type PresenceData, type StreamEvent, type Subscription } from '../src/index.js';

/** GET config.json: minted afresh on every request. */
interface Config {
  contest: string;
  events_url: string;
  scoreboard_token: string;
  viewer: string;
  viewer_token: string;
  expires: number;
  /** The problem aliases in board order (A, B, ...). */
  problems: string[];
  /** The id the feed resumes after, so that it opens with the recent events. */
  feed_since?: string;
}

interface Cell {
  solved: boolean;
  attempts: number;
  minute?: number;
}

/** A row of the simulator's keyed board (row_key "username"), best first; places are the page's to number. */
interface Row {
  username: string;
  solved: number;
  penalty: number;
  cells: Record<string, Cell>;
}

/** The data of the simulator's events; every field optional, since any publisher may share the channel. */
interface Data {
  contest_alias?: string;
  guid?: string;
  username?: string;
  problem?: string;
  language?: string;
  status?: string;
  verdict?: string;
  runtime_ms?: number;
  message?: string;
  answer?: string;
  event?: string;
}

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;

async function fetchConfig(): Promise<Config> {
  const r = await fetch('config.json', { cache: 'no-store' });
  if (!r.ok) throw new Error(`config.json answered ${r.status}`);
  return (await r.json()) as Config;
}

/** Shows a client's state in the status pill with id `id`. */
function showState(client: ArenacastClient, id: string): void {
  const el = $(`#${id}`);
  const text = el.querySelector('span') as HTMLElement;
  const show = () => {
    el.dataset.state = client.state;
    text.textContent = client.state === 'connected' ? `connected · ${client.transport ?? ''}` : client.state;
  };
  client.on('state', show);
  client.on('connected', show);
  client.on('disconnected', ({ code, reason }) => (text.textContent = `disconnected (${code} ${reason})`));
  show();
}

// ---- presence ----

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** Shows a presence event's counts: who is watching, across every node. */
function renderPresence(p: PresenceData): void {
  const el = $('#presence');
  el.textContent =
    `Watching now: ${plural(p.contestants.connections, 'contestant connection', 'contestant connections')} ` +
    `(${plural(p.contestants.users, 'user', 'users')}), ` +
    `${plural(p.admins.connections, 'admin connection', 'admin connections')}, ` +
    `${plural(p.viewers.connections, 'scoreboard viewer', 'scoreboard viewers')}` +
    ` · ${plural(p.nodes, 'node', 'nodes')}${p.approximate ? ' (approximate)' : ''}`;
  el.dataset.viewers = String(p.viewers.connections);
  el.dataset.admins = String(p.admins.connections);
}

// ---- scoreboard ----

const letter = (i: number) => String.fromCharCode(65 + i);
/** Each problem's column letter on the board, by alias, for the feed. */
const letters = new Map<string, string>();
/** A problem as the page names it: its board letter and its alias, e.g. "B grid-paths". */
const problemName = (alias: string | undefined) => {
  const l = alias === undefined ? undefined : letters.get(alias);
  return l ? `${l} ${alias}` : (alias ?? '?');
};
let shownProblems = '';
/** The row objects shown and their table rows: a patch replaces only the rows that changed, so only those are rebuilt. */
let shownRows = new Map<string, { row: Row; tr: HTMLElement }>();

function el(tag: string, cls?: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderHead(problems: string[]): void {
  const key = problems.join(',');
  if (key === shownProblems) return;
  shownProblems = key;
  letters.clear();
  problems.forEach((alias, i) => letters.set(alias, letter(i)));
  const legend = problems.map((alias, i) => `${letter(i)} ${alias}`).join(' · ');
  $('#problems').textContent = `Problems: ${legend}`;
  const tr = el('tr');
  tr.append(el('th', 'num', '#'), el('th', '', 'User'));
  problems.forEach((alias, i) => {
    const th = el('th', 'p', letter(i));
    th.title = alias;
    tr.append(th);
  });
  tr.append(el('th', 'num', 'Solved'), el('th', 'num', 'Penalty'));
  $('#scoreboard thead').replaceChildren(tr);
}

function renderCell(alias: string, c: Cell | undefined): HTMLElement {
  const td = el('td', 'p');
  td.title = alias;
  if (!c) return td;
  if (c.solved) {
    td.classList.add('ok');
    const s = el('span', '', c.attempts > 1 ? `+${c.attempts - 1}` : '+');
    s.append(el('small', '', `${c.minute ?? 0}'`));
    td.append(s);
  } else if (c.attempts > 0) {
    td.classList.add('bad');
    td.append(el('span', '', `−${c.attempts}`));
  }
  return td;
}

function renderRow(r: Row, problems: string[], moved: boolean): HTMLElement {
  const tr = el('tr', moved ? 'moved' : undefined);
  tr.dataset.user = r.username;
  tr.append(el('td', 'num'), el('td', 'user', r.username));
  for (const alias of problems) tr.append(renderCell(alias, r.cells?.[alias]));
  tr.append(el('td', 'num', String(r.solved)), el('td', 'num', String(r.penalty)));
  return tr;
}

/**
 * Shows the live keyed board: rebuilds the table rows whose row object
 * changed (a patch brings whole new rows; the others keep theirs), puts
 * the rows in the board's order and numbers them, equal results sharing a
 * place.
 */
function renderBoard(board: KeyedBoard): void {
  const problems = Array.isArray(board.data.problems) ? (board.data.problems as string[]) : [];
  const headChanged = problems.join(',') !== shownProblems;
  renderHead(problems);
  const next = new Map<string, { row: Row; tr: HTMLElement }>();
  const rows = board.rows as unknown as Row[];
  const trs = rows.map((r) => {
    const had = shownRows.get(r.username);
    const keep = had && had.row === r && !headChanged;
    const tr = keep ? had.tr : renderRow(r, problems, had !== undefined && had.row !== r);
    if (keep) tr.classList.remove('moved');
    next.set(r.username, { row: r, tr });
    return tr;
  });
  rows.forEach((r, i) => {
    const prev = rows[i - 1];
    const place = prev && prev.solved === r.solved && prev.penalty === r.penalty ? (trs[i - 1]?.firstChild?.textContent ?? '') : String(i + 1);
    const td = trs[i]?.firstChild as HTMLElement;
    if (td.textContent !== place) td.textContent = place;
  });
  shownRows = next;
  const body = $('#scoreboard tbody');
  // Move only what is out of place.
  trs.forEach((tr, i) => {
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] ?? null);
  });
  while (body.children.length > trs.length) body.lastElementChild?.remove();
  $('#minute').textContent = `minute ${String(board.data.minute ?? 0)}`;
}

// ---- feed ----

const maxFeed = 40;

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${s}`;
}

/** A one-line summary of an event, as DOM nodes. */
function summary(ev: StreamEvent<Data>): Node[] {
  const d = ev.data ?? {};
  switch (ev.type) {
    case 'run_update':
      if (d.status === 'new') return [document.createTextNode(`${d.username} submitted ${problemName(d.problem)} (${d.language})`), el('span', 'private', 'private')];
      return [
        document.createTextNode(`${d.username} · ${problemName(d.problem)}: `),
        el('span', `v-${d.verdict}`, d.verdict ?? '?'),
        document.createTextNode(d.runtime_ms ? ` (${d.runtime_ms} ms)` : ''),
        el('span', 'private', 'private'),
      ];
    case 'scoreboard_update':
      return [document.createTextNode('new scoreboard')];
    case 'scoreboard_patch': {
      // The delivered form: the whole new row of who changed, and where it moved.
      const p = ev.data as { rows?: Record<string, Row | null>; order?: Record<string, number>[] } | null;
      const moved = new Map<string, number>();
      for (const m of p?.order ?? []) for (const [k, i] of Object.entries(m)) moved.set(k, i);
      const parts = Object.entries(p?.rows ?? {}).map(([user, r]) => {
        const at = moved.get(user);
        const where = at === undefined ? '' : `, up to ${ordinal(at + 1)}`;
        return r ? `${user}: ${r.solved} solved, ${r.penalty} penalty${where}` : `${user} left`;
      });
      return [document.createTextNode(parts.join('; ') || 'scoreboard')];
    }
    case 'clarification':
      return [document.createTextNode(`${problemName(d.problem)}: “${d.message}” — ${d.answer}`)];
    case 'contest_update':
      return [document.createTextNode(d.message ?? d.event ?? '')];
  }
  return [document.createTextNode(JSON.stringify(ev.data).slice(0, 120))];
}

/** Adds a feed line at the top; `id` (the event's id, when it has one) goes in data-id, so a line can be matched to its event. */
function addFeed(type: string, when: Date, nodes: Node[], id?: string): void {
  const li = el('li', `t-${type}`);
  if (id) li.dataset.id = id;
  const t = el('time', '', when.toLocaleTimeString([], { hour12: false }));
  const sum = el('span', 'sum');
  sum.append(...nodes);
  li.append(t, el('span', 'type', type), sum);
  const feed = $('#feed');
  feed.prepend(li);
  while (feed.children.length > maxFeed) feed.lastElementChild?.remove();
}

// ---- wiring ----

async function main(): Promise<void> {
  const cfg = await fetchConfig();
  $('#contest').textContent = cfg.contest;
  renderHead(cfg.problems ?? []);

  // The scoreboard: anonymous, on the public link, with live keyed boards
  // (boards: 'patch'): the board once, then only the changed rows, which
  // the subscription applies to its board.
  const board = new ArenacastClient({ url: cfg.events_url, boards: 'patch' });
  showState(board, 'conn-board');
  const follow = (token: string): Subscription => {
    const sub = board.subscribe(`/scoreboard/${token}`);
    sub.on('board', ({ board: b }) => {
      if (b) renderBoard(b);
    });
    // Round starts, the last-hour announcement and the end: the contest
    // restarts on its own, and the page says so.
    sub.on('contest_update', (ev) => {
      const m = (ev.data as Data | null)?.message;
      if (m) $('#round').textContent = m;
    });
    sub.on('unsubscribed', async ({ reason }) => {
      if (reason !== 'expired') return;
      // The link's token ran out: follow a fresh one.
      board.removeSubscription(sub);
      follow((await fetchConfig()).scoreboard_token);
    });
    return sub;
  };
  follow(cfg.scoreboard_token);
  board.connect();

  // The feed: a contest admin, so private runs show too. getToken fetches
  // fresh tokens before the current one expires.
  const feed = new ArenacastClient({
    url: cfg.events_url,
    boards: 'patch',
    token: cfg.viewer_token,
    getToken: async () => (await fetchConfig()).viewer_token,
  });
  showState(feed, 'conn-feed');
  // Resuming from feed_since, the feed opens with the recent events this
  // viewer may see (history), then goes live.
  const contest = feed.subscribe(`/contest/${cfg.contest}`, cfg.feed_since ? { since: cfg.feed_since } : {});
  contest.on('event', (ev) => {
    const when = ev.timestamp ? new Date(ev.timestamp * 1000) : new Date();
    addFeed(ev.type, when, summary(ev as StreamEvent<Data>), ev.id);
  });
  // Presence: the admin channel carries the contest's counts every few
  // seconds (an event without id, never stored).
  const admin = feed.subscribe(`/contest/${cfg.contest}/admin`);
  admin.on('presence', (ev) => renderPresence(ev.data as PresenceData));
  contest.on('resync', () => addFeed('resync', new Date(), [document.createTextNode('events may have been missed')]));
  feed.on('error', (e) => {
    if (e.source !== 'server' || e.code !== 'token_expired') console.warn('arenacast:', e.code ?? e.source, e.message);
  });
  feed.connect();
}

main().catch((err) => {
  console.error(err);
  addFeed('error', new Date(), [document.createTextNode(String(err))]);
});
