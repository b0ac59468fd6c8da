/**
 * Keyed scoreboards (protocol section 8): a board of rows identified by a
 * key member, kept current from a full `scoreboard_update` and the
 * `scoreboard_patch` events that follow it, one board per view.
 *
 * @module
 */

import { compareIds, isDecimalId } from './ids.js';

/** One row of a keyed board: an object whose `row_key` member is a string. */
export type BoardRow = Record<string, unknown>;

/** The members of a keyed board other than `rows` (and `row_key`, kept too). */
export type BoardData = Record<string, unknown> & { row_key: string; rows: BoardRow[] };

/**
 * Makes the containers a board keeps its state in. The defaults are plain
 * objects and arrays; the Vue composables pass shallowReactive ones, so the
 * board's in-place changes are what Vue tracks.
 */
export interface BoardContainers {
  /** Wraps a fresh rows array (it is then changed in place). */
  rows?: (rows: BoardRow[]) => BoardRow[];
  /** Wraps a fresh board object (it is then changed in place). */
  data?: (data: BoardData) => BoardData;
}

/** The delivered form of a `scoreboard_patch`'s data (section 8, "What a viewer receives"). */
export interface DeliveredPatch {
  /** The whole new row of each row that changed; null: removed. */
  rows?: Record<string, BoardRow | null>;
  /** `positions` maps, applied one after another. */
  order?: Record<string, number>[];
  /** The new value of each other member that changed; null: removed. */
  fields?: Record<string, unknown>;
}

/** What {@link KeyedBoard.applyPatch} did with a patch. */
export type PatchResult =
  /** Applied; the board's version is now the patch's id. */
  | 'applied'
  /** Its id is not above the board's version: dropped. */
  | 'stale'
  /** Its base is not the board's version: events were missed; ask for a fresh board. */
  | 'gap'
  /** It does not fit the board (unknown member, index out of range, ...): dropped, board unchanged. */
  | 'invalid';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reports whether data is a keyed board: an object with a string `row_key`
 * and `rows`, an array of objects each with a distinct string key member.
 */
export function isKeyedBoard(data: unknown): data is BoardData {
  if (!isRecord(data) || typeof data.row_key !== 'string' || !Array.isArray(data.rows)) return false;
  const key = data.row_key;
  const seen = new Set<string>();
  for (const r of data.rows) {
    if (!isRecord(r) || typeof r[key] !== 'string' || seen.has(r[key] as string)) return false;
    seen.add(r[key] as string);
  }
  return true;
}

/** Whether two JSON values are equal (objects member by member, in any order). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ka = Object.keys(a);
  const ob = b as Record<string, unknown>;
  if (ka.length !== Object.keys(ob).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(ob, k) && jsonEqual((a as Record<string, unknown>)[k], ob[k]));
}

/**
 * One view's keyed board. {@link data} is the board in the publisher's
 * shape (`row_key`, `rows` in order, the other members); it is one object
 * for the board's life and is changed in place, and a row that did not
 * change keeps its object, so a renderer can skip it by identity.
 */
export class KeyedBoard {
  /** The board in the publisher's shape; `data.rows` is {@link rows}. */
  readonly data: BoardData;
  /** The id of the last event folded into the board. */
  version: string | undefined;
  private readonly wrapRows: (rows: BoardRow[]) => BoardRow[];
  // Where each key is in rows; rebuilt after rows move.
  private index = new Map<string, number>();
  private indexDirty = true;

  /** Makes the board of a view from a full keyed board (see {@link isKeyedBoard}) at version id. */
  constructor(
    /** The view: `public`, `admin` or `user:<name>`. */
    readonly view: string,
    board: BoardData,
    id: string | undefined,
    containers: BoardContainers = {},
  ) {
    this.wrapRows = containers.rows ?? ((r) => r);
    const copy = { ...board, rows: this.wrapRows([...board.rows]) } as BoardData;
    this.data = containers.data ? containers.data(copy) : copy;
    this.version = id;
  }

  /** The rows, in order. */
  get rows(): BoardRow[] {
    return this.data.rows;
  }

  /** The name of the key member. */
  get rowKey(): string {
    return this.data.row_key;
  }

  /** The row with key k, if the board has it. */
  row(k: string): BoardRow | undefined {
    const i = this.indexOf(k);
    return i === undefined ? undefined : this.rows[i];
  }

  private indexOf(k: string): number | undefined {
    if (this.indexDirty) {
      this.index = new Map();
      const key = this.rowKey;
      this.rows.forEach((r, i) => this.index.set(r[key] as string, i));
      this.indexDirty = false;
    }
    return this.index.get(k);
  }

  /**
   * Replaces the board with a full one at version id, in place: members are
   * set or removed, and rows equal to the ones they replace keep their old
   * objects. Returns false (and changes nothing) when id is not above the
   * version.
   */
  replace(board: BoardData, id: string | undefined): boolean {
    if (isDecimalId(id) && isDecimalId(this.version) && compareIds(id, this.version) <= 0) return false;
    const d = this.data as Record<string, unknown>;
    for (const k of Object.keys(d)) if (k !== 'rows' && !(k in board)) delete d[k];
    for (const [k, v] of Object.entries(board)) if (k !== 'rows' && !jsonEqual(d[k], v)) d[k] = v;
    const old = new Map<string, BoardRow>();
    const key = this.rowKey;
    for (const r of this.rows) old.set(r[key] as string, r);
    const rows = this.rows;
    const next = board.rows.map((r) => {
      const o = old.get(r[key] as string);
      return o !== undefined && jsonEqual(o, r) ? o : r;
    });
    // Write only the places that changed, then trim or extend.
    for (let i = 0; i < next.length; i++) if (i >= rows.length || rows[i] !== next[i]) rows[i] = next[i] as BoardRow;
    if (rows.length > next.length) rows.splice(next.length);
    this.indexDirty = true;
    this.version = id;
    return true;
  }

  /**
   * Applies a delivered patch with the given id and base: `fields`, then
   * `rows` (a row the board does not have goes at the end; null removes),
   * then each map of `order` in turn. All or nothing: a patch that does not
   * fit leaves the board as it was.
   */
  applyPatch(patch: unknown, id: string | undefined, base: string | undefined): PatchResult {
    if (isDecimalId(id) && isDecimalId(this.version) && compareIds(id, this.version) <= 0) return 'stale';
    if (base !== undefined && base !== this.version) return 'gap';
    const plan = this.plan(patch);
    if (!plan) return 'invalid';
    const d = this.data as Record<string, unknown>;
    for (const [k, v] of plan.fields) {
      if (v === null) delete d[k];
      else d[k] = v;
    }
    const rows = this.rows;
    if (plan.removes.size > 0) {
      // One pass, so removing many rows costs one shift.
      let w = 0;
      const key = this.rowKey;
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r] as BoardRow;
        if (plan.removes.has(row[key] as string)) continue;
        if (w !== r) rows[w] = row;
        w++;
      }
      rows.splice(w);
      this.indexDirty = true;
    }
    for (const [k, row] of plan.sets) {
      const i = this.indexOf(k);
      if (i === undefined) {
        rows.push(row);
        this.index.set(k, rows.length - 1);
      } else {
        rows[i] = row;
      }
    }
    for (const m of plan.order) this.move(m);
    this.version = id;
    return 'applied';
  }

  /** Checks a patch against the board and returns what to do, or undefined when it does not fit. */
  private plan(patch: unknown):
    | { fields: [string, unknown][]; removes: Set<string>; sets: [string, BoardRow][]; order: [string, number][][] }
    | undefined {
    if (!isRecord(patch)) return undefined;
    for (const k of Object.keys(patch)) if (k !== 'rows' && k !== 'order' && k !== 'fields') return undefined;
    const fields: [string, unknown][] = [];
    if (patch.fields !== undefined) {
      if (!isRecord(patch.fields)) return undefined;
      for (const [k, v] of Object.entries(patch.fields)) {
        if (k === 'rows' || k === 'row_key') return undefined;
        fields.push([k, v]);
      }
    }
    const key = this.rowKey;
    const removes = new Set<string>();
    const sets: [string, BoardRow][] = [];
    let size = this.rows.length;
    if (patch.rows !== undefined) {
      if (!isRecord(patch.rows)) return undefined;
      for (const [k, v] of Object.entries(patch.rows)) {
        const have = this.indexOf(k) !== undefined;
        if (v === null) {
          if (have) {
            removes.add(k);
            size--;
          }
          continue;
        }
        if (!isRecord(v) || v[key] !== k) return undefined;
        sets.push([k, v]);
        if (!have) size++;
      }
    }
    const order: [string, number][][] = [];
    if (patch.order !== undefined) {
      if (!Array.isArray(patch.order)) return undefined;
      // Keys present once rows are applied.
      const present = (k: string): boolean =>
        !removes.has(k) && (this.indexOf(k) !== undefined || sets.some(([s]) => s === k));
      for (const m of patch.order) {
        if (!isRecord(m)) return undefined;
        const entries: [string, number][] = [];
        const at = new Set<number>();
        for (const [k, v] of Object.entries(m)) {
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= size || at.has(v) || !present(k)) return undefined;
          at.add(v);
          entries.push([k, v]);
        }
        order.push(entries);
      }
    }
    return { fields, removes, sets, order };
  }

  /** Applies one positions map: takes the listed rows out and puts them back at their indices, in increasing index order. */
  private move(m: [string, number][]): void {
    if (m.length === 0) return;
    const rows = this.rows;
    const key = this.rowKey;
    const moving = new Set(m.map(([k]) => k));
    const byKey = new Map<string, BoardRow>();
    const rest: BoardRow[] = [];
    for (const r of rows) {
      const k = r[key] as string;
      if (moving.has(k)) byKey.set(k, r);
      else rest.push(r);
    }
    const next = rest;
    for (const [k, i] of [...m].sort((a, b) => a[1] - b[1])) next.splice(i, 0, byKey.get(k) as BoardRow);
    for (let i = 0; i < next.length; i++) if (rows[i] !== next[i]) rows[i] = next[i] as BoardRow;
    this.indexDirty = true;
  }
}

/** Orders views from least to most specific: public, then a user's own, then admin. */
function viewRank(view: string, me: string | undefined): number {
  if (view === 'admin') return 3;
  if (view.startsWith('user:')) return me === undefined || view === `user:${me}` ? 2 : -1;
  if (view === 'public') return 1;
  return 0;
}

/** What {@link BoardSet.handle} did with an event. */
export interface BoardChange {
  /** The view whose board the event was for. */
  view: string;
  /** 'board': a full board was taken; otherwise what the patch did. */
  result: 'board' | PatchResult;
}

/**
 * The keyed boards of one channel, one per view, and which one to show:
 * `admin` over `user:<me>` over `public`.
 */
export class BoardSet {
  private readonly boards = new Map<string, KeyedBoard>();

  constructor(private readonly containers: BoardContainers = {}) {}

  /** The board of a view, if there is one. */
  get(view: string): KeyedBoard | undefined {
    return this.boards.get(view);
  }

  /** The views that have a board. */
  views(): string[] {
    return [...this.boards.keys()];
  }

  /** The most specific board there is, for the signed-in user me (undefined: anonymous or unknown). */
  current(me?: string): KeyedBoard | undefined {
    let best: KeyedBoard | undefined;
    let rank = 0;
    for (const b of this.boards.values()) {
      const r = viewRank(b.view, me);
      if (r > rank) {
        best = b;
        rank = r;
      }
    }
    return best;
  }

  /** Forgets every board. */
  clear(): void {
    this.boards.clear();
  }

  /**
   * Takes a keyed `scoreboard_update` (data, id, view) or a delivered
   * `scoreboard_patch` (data, id, view, base). Returns what happened, or
   * undefined when the event is no keyed board or patch. A patch for a view
   * without a board is a gap.
   */
  handle(type: string, data: unknown, id: string | undefined, view: string | undefined, base: string | undefined): BoardChange | undefined {
    const v = view ?? 'public';
    if (type === 'scoreboard_update') {
      if (!isKeyedBoard(data)) return undefined;
      const b = this.boards.get(v);
      if (b && b.rowKey === data.row_key) return { view: v, result: b.replace(data, id) ? 'board' : 'stale' };
      this.boards.set(v, new KeyedBoard(v, data, id, this.containers));
      return { view: v, result: 'board' };
    }
    if (type === 'scoreboard_patch') {
      const b = this.boards.get(v);
      if (!b) return { view: v, result: 'gap' };
      return { view: v, result: b.applyPatch(data, id, base) };
    }
    return undefined;
  }
}
