/**
 * A compact index over every event of the audit log, in log order: per event its timestamp (ms),
 * event_type and user_id (codes into interned string tables) and where its line is in audit.jsonl
 * (byte offset and length). 28 bytes an event in typed arrays, so four million events cost about
 * 110 MB instead of the ~2 GB their parsed objects would. Queries filter here, exactly as
 * `queryAuditEvents` does over the objects, and name the positions of the page's events; the
 * caller reads those (from memory or the file).
 */
import type { AuditQuery } from '../store/types.js';
import type { AuditLineFields } from './audit-line-scan.js';

/** user code 0: no user_id (or one that is not a string), which no query can match. */
const NO_USER = 0;

/** Strings to small integers and back; code 0 is reserved. */
class StringTable {
  private readonly codes = new Map<string, number>();
  readonly strings: string[] = [''];
  intern(s: string): number {
    let c = this.codes.get(s);
    if (c === undefined) {
      c = this.strings.length;
      this.strings.push(s);
      this.codes.set(s, c);
    }
    return c;
  }
  /** The code of a known string, else undefined (nothing carries it). */
  find(s: string): number | undefined {
    return this.codes.get(s);
  }
}

export interface AuditSelection {
  /** Positions (0-based, log order) of the page's events. */
  positions: number[];
  total: number;
}

export class AuditIndex {
  private cap: number;
  private ts: Float64Array;
  private offsets: Float64Array;
  private lengths: Uint32Array;
  private types: Uint32Array;
  private users: Uint32Array;
  private readonly typeTable = new StringTable();
  private readonly userTable = new StringTable();
  /** Events indexed. */
  size = 0;

  constructor(initialCapacity = 1024) {
    this.cap = Math.max(16, initialCapacity);
    this.ts = new Float64Array(this.cap);
    this.offsets = new Float64Array(this.cap);
    this.lengths = new Uint32Array(this.cap);
    this.types = new Uint32Array(this.cap);
    this.users = new Uint32Array(this.cap);
  }

  /** Bytes the tables take (capacity, not just the used part), for the benchmark. */
  get bytes(): number {
    return this.cap * 28;
  }

  /** Appends one event whose line is `length` bytes (newline included) at `offset`. */
  add(f: Pick<AuditLineFields, 'timestamp' | 'event_type' | 'user_id'>, offset: number, length: number): void {
    if (!(length > 0 && length <= 0xffffffff)) throw new RangeError(`audit index: bad line length ${length}`);
    if (this.size === this.cap) this.grow();
    const i = this.size++;
    this.ts[i] = Date.parse(f.timestamp);
    this.offsets[i] = offset;
    this.lengths[i] = length;
    this.types[i] = this.typeTable.intern(f.event_type);
    this.users[i] = typeof f.user_id === 'string' ? this.userTable.intern(f.user_id) : NO_USER;
  }

  offset(i: number): number {
    return this.offsets[i]!;
  }
  length(i: number): number {
    return this.lengths[i]!;
  }

  /** The same answer as queryAuditEvents over the events, as positions. */
  select(q: AuditQuery): AuditSelection {
    const from = q.from === undefined ? undefined : Date.parse(q.from);
    const to = q.to === undefined ? undefined : Date.parse(q.to);
    if (Number.isNaN(from) || Number.isNaN(to)) return { positions: [], total: 0 };
    const limit = Math.max(0, Math.floor(q.limit));
    const offset = Math.max(0, Math.floor(q.offset));
    let type = -1;
    if (q.event_type !== undefined) {
      const c = this.typeTable.find(q.event_type);
      if (c === undefined) return { positions: [], total: 0 };
      type = c;
    }
    let user = -1;
    if (q.user_id !== undefined) {
      const c = typeof q.user_id === 'string' ? this.userTable.find(q.user_id) : undefined;
      if (c === undefined) return { positions: [], total: 0 };
      user = c;
    }
    const lo = from ?? -Infinity;
    const hi = to ?? Infinity;
    const timed = from !== undefined || to !== undefined;
    const { types, users, ts, size } = this;
    const positions: number[] = [];
    let total = 0;
    for (let i = 0; i < size; i++) {
      if (type >= 0 && types[i] !== type) continue;
      if (user >= 0 && users[i] !== user) continue;
      if (timed) {
        const t = ts[i]!;
        if (!(t >= lo && t <= hi)) continue; // NaN (an unparsable timestamp) matches no bound
      }
      if (total >= offset && positions.length < limit) positions.push(i);
      total++;
    }
    return { positions, total };
  }

  /** Drops most spare capacity (after the start-up scan, which grew the arrays by halves). */
  compact(): void {
    this.resize(this.size + Math.max(1024, this.size >> 5));
  }

  private grow(): void {
    this.resize(Math.ceil(this.cap * 1.5));
  }

  private resize(cap: number): void {
    const more = <T extends Float64Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a.subarray(0, Math.min(a.length, cap)));
      return b;
    };
    this.ts = more(this.ts, (n) => new Float64Array(n));
    this.offsets = more(this.offsets, (n) => new Float64Array(n));
    this.lengths = more(this.lengths, (n) => new Uint32Array(n));
    this.types = more(this.types, (n) => new Uint32Array(n));
    this.users = more(this.users, (n) => new Uint32Array(n));
    this.cap = cap;
  }
}
