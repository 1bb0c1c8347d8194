/**
 * Reads the fields the audit index needs from one audit.jsonl line without JSON.parse: the start-up
 * scan of a long log then allocates a few short strings a line instead of a whole event object.
 * The writer emits `JSON.stringify(event)` (key order is the draft's, not sorted), so keys are found
 * by walking the line's top level, not by position. The walk also validates the JSON grammar, so it
 * accepts a line only when JSON.parse would; anything it is unsure of (escaped keys, nesting too
 * deep, bad syntax) falls back to JSON.parse + the shape check `parseAuditLine` does, so both paths
 * agree on every line, including tampered ones.
 */
import type { AuditEvent } from '../../shared/api-types.js';
import { parseAuditLine } from './chain.js';

/** What the index keeps of an event, plus the two hashes for the start-up linkage check. */
export interface AuditLineFields {
  sequence_num: number;
  timestamp: string;
  event_type: string;
  /** Only a string user_id can ever match a query; anything else is kept as undefined. */
  user_id: string | undefined;
  prev_hash: string;
  event_hash: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MAX_DEPTH = 64;

const enum Field {
  None = -1,
  Seq = 0,
  Timestamp = 1,
  Type = 2,
  User = 3,
  Prev = 4,
  Hash = 5,
}
const KEY_SEQ = Buffer.from('sequence_num');
const KEY_TS = Buffer.from('timestamp');
const KEY_PREV = Buffer.from('prev_hash');
const KEY_TYPE = Buffer.from('event_type');
const KEY_HASH = Buffer.from('event_hash');
const KEY_USER = Buffer.from('user_id');

/** Thrown inside the walk when the line is not something it can vouch for. */
class Unsure extends Error {}
const UNSURE = new Unsure();

/** A cursor over one line; value kinds found for the fields of interest go to start/end/kind. */
class Walker {
  pos = 0;
  /** Set by string(): whether the last string held an escape or a non-ASCII byte. */
  complex = false;
  b: Buffer = Buffer.alloc(0);
  end = 0;

  ws(): void {
    const { b, end } = this;
    let i = this.pos;
    while (i < end) {
      const c = b[i]!;
      if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) break;
      i++;
    }
    this.pos = i;
  }

  /** At a quote: moves past the closing quote, checking escapes and control characters. */
  string(): void {
    const { b, end } = this;
    let i = this.pos + 1;
    let complex = false;
    for (;;) {
      if (i >= end) throw UNSURE;
      const c = b[i]!;
      if (c === QUOTE) break;
      if (c < 0x20) throw UNSURE;
      if (c === BACKSLASH) {
        complex = true;
        const e = this.at(i + 1);
        if (e === 0x75 /* u */) {
          for (let k = 2; k < 6; k++) if (!isHex(this.at(i + k))) throw UNSURE;
          i += 6;
        } else if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          i += 2;
        } else {
          throw UNSURE;
        }
        continue;
      }
      if (c >= 0x80) complex = true;
      i++;
    }
    this.complex = complex;
    this.pos = i + 1;
  }

  /** The byte at i, or -1 past the line's end (a buffer holds more than this line). */
  at(i: number): number {
    return i < this.end ? this.b[i]! : -1;
  }

  /** -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)? */
  number(): void {
    let i = this.pos;
    if (this.at(i) === 0x2d) i++;
    if (this.at(i) === 0x30) i++;
    else if (isDigit1(this.at(i))) while (isDigit(this.at(i))) i++;
    else throw UNSURE;
    if (this.at(i) === 0x2e) {
      i++;
      if (!isDigit(this.at(i))) throw UNSURE;
      while (isDigit(this.at(i))) i++;
    }
    const e = this.at(i);
    if (e === 0x65 || e === 0x45) {
      i++;
      const sign = this.at(i);
      if (sign === 0x2b || sign === 0x2d) i++;
      if (!isDigit(this.at(i))) throw UNSURE;
      while (isDigit(this.at(i))) i++;
    }
    this.pos = i;
  }

  literal(word: Buffer): void {
    if (this.pos + word.length > this.end || this.b.compare(word, 0, word.length, this.pos, this.pos + word.length) !== 0) throw UNSURE;
    this.pos += word.length;
  }

  /** Any JSON value (nested ones validated and skipped). */
  value(depth: number): void {
    const c = this.at(this.pos);
    if (c === QUOTE) this.string();
    else if (c === 0x7b /* { */) this.container(depth + 1, 0x7d, true);
    else if (c === 0x5b /* [ */) this.container(depth + 1, 0x5d, false);
    else if (c === 0x74) this.literal(TRUE);
    else if (c === 0x66) this.literal(FALSE);
    else if (c === 0x6e) this.literal(NULL);
    else this.number();
  }

  private container(depth: number, close: number, object: boolean): void {
    if (depth > MAX_DEPTH) throw UNSURE;
    this.pos++;
    this.ws();
    if (this.at(this.pos) === close) {
      this.pos++;
      return;
    }
    for (;;) {
      if (object) {
        if (this.at(this.pos) !== QUOTE) throw UNSURE;
        this.string();
        this.ws();
        if (this.at(this.pos) !== 0x3a) throw UNSURE;
        this.pos++;
        this.ws();
      }
      this.value(depth);
      this.ws();
      const c = this.at(this.pos);
      this.pos++;
      if (c === close) return;
      if (c !== 0x2c) throw UNSURE;
      this.ws();
    }
  }
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isDigit1 = (c: number) => c >= 0x31 && c <= 0x39;
const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/** Byte-wise in JS: a native Buffer.compare per key costs more than the comparison itself. */
function same(b: Buffer, start: number, key: Buffer): boolean {
  for (let k = 0; k < key.length; k++) if (b[start + k] !== key[k]) return false;
  return true;
}

function keyField(b: Buffer, start: number, end: number): Field {
  switch (end - start) {
    case 12:
      return same(b, start, KEY_SEQ) ? Field.Seq : Field.None;
    case 9:
      return same(b, start, KEY_TS) ? Field.Timestamp : same(b, start, KEY_PREV) ? Field.Prev : Field.None;
    case 10:
      return same(b, start, KEY_TYPE) ? Field.Type : same(b, start, KEY_HASH) ? Field.Hash : Field.None;
    case 7:
      return same(b, start, KEY_USER) ? Field.User : Field.None;
    default:
      return Field.None;
  }
}

const walker = new Walker();
const starts = new Int32Array(6);
const ends = new Int32Array(6);
/** 0 missing, 1 plain string, 2 string with escapes/non-ASCII, 3 number, 4 anything else. */
const kinds = new Uint8Array(6);

function text(b: Buffer, f: Field): string {
  const s = starts[f]!;
  const e = ends[f]!;
  if (kinds[f] === 1) return b.toString('latin1', s + 1, e - 1);
  // Escapes or UTF-8: let JSON.parse decode exactly what the full parse would.
  return JSON.parse(b.toString('utf8', s, e)) as string;
}

/** The fast path; undefined when the line needs the full parse (which decides either way). */
function walk(b: Buffer, start: number, end: number): AuditLineFields | undefined {
  kinds.fill(0);
  const w = walker;
  w.b = b;
  w.end = end;
  w.pos = start;
  w.ws();
  if (w.at(w.pos) !== 0x7b) return undefined;
  w.pos++;
  w.ws();
  if (w.at(w.pos) === 0x7d) return undefined; // {} is no event
  for (;;) {
    if (w.at(w.pos) !== QUOTE) throw UNSURE;
    const ks = w.pos;
    w.string();
    if (w.complex) throw UNSURE; // an escaped key could spell a field name
    const f = keyField(b, ks + 1, w.pos - 1);
    w.ws();
    if (w.at(w.pos) !== 0x3a) throw UNSURE;
    w.pos++;
    w.ws();
    const vs = w.pos;
    const c = w.at(vs);
    w.value(1);
    if (f !== Field.None) {
      starts[f] = vs;
      ends[f] = w.pos;
      kinds[f] = c === QUOTE ? (w.complex ? 2 : 1) : c === 0x2d || isDigit(c) ? 3 : 4;
    }
    w.ws();
    const sep = w.at(w.pos);
    w.pos++;
    if (sep === 0x7d) break;
    if (sep !== 0x2c) throw UNSURE;
    w.ws();
  }
  w.ws();
  if (w.pos !== end) throw UNSURE;
  // The shape parseAuditLine requires; a line that parses but is no event is decided there.
  if (kinds[Field.Seq] !== 3) return undefined;
  const seq = Number(b.toString('latin1', starts[Field.Seq]!, ends[Field.Seq]!));
  if (!Number.isSafeInteger(seq)) return undefined;
  for (const f of [Field.Timestamp, Field.Type, Field.Prev, Field.Hash]) if (kinds[f] !== 1 && kinds[f] !== 2) return undefined;
  const u = kinds[Field.User];
  return {
    sequence_num: seq,
    timestamp: text(b, Field.Timestamp),
    event_type: text(b, Field.Type),
    user_id: u === 1 || u === 2 ? text(b, Field.User) : undefined,
    prev_hash: text(b, Field.Prev),
    event_hash: text(b, Field.Hash),
  };
}

export function fieldsOf(e: AuditEvent): AuditLineFields {
  return {
    sequence_num: e.sequence_num,
    timestamp: e.timestamp,
    event_type: e.event_type,
    user_id: typeof e.user_id === 'string' ? e.user_id : undefined,
    prev_hash: e.prev_hash,
    event_hash: e.event_hash,
  };
}

/**
 * The fields of the line b[start, end) (without its newline), or why it is not an event: the same
 * verdict `parseAuditLine(line)` gives.
 */
export function scanAuditLine(b: Buffer, start: number, end: number): AuditLineFields | { unparsable: string } {
  try {
    const fields = walk(b, start, end);
    if (fields) return fields;
  } catch (err) {
    if (!(err instanceof Unsure) && !(err instanceof RangeError)) throw err;
  }
  const entry = parseAuditLine(b.toString('utf8', start, end));
  return 'event' in entry ? fieldsOf(entry.event) : entry;
}
