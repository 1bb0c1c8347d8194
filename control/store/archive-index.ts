/**
 * Where each archived task's line is: id → (file number, byte offset, length), in typed arrays so
 * a million archived tasks cost tens of megabytes, not the hundreds a Map of id strings would.
 * Ids are not stored, only a 64-bit hash of their UTF-8 bytes (open addressing, linear probing).
 * A hit is a candidate: the reader parses the line and checks its id, so a hash collision or a
 * damaged line costs a look at the next candidate, never a wrong task. Entries are never removed;
 * a duplicate id (a crash between the archive fsync and the store commit) adds another entry, and
 * `candidates` yields the newest first: last line wins.
 */

export interface ArchiveLocation {
  file: number;
  offset: number;
  length: number;
}

/** Two independent 32-bit FNV-1a style hashes over the bytes (different seeds and a final mix). */
export function hashIdBytes(buf: Uint8Array, start = 0, end = buf.length): [number, number] {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    h1 = Math.imul(h1 ^ b, 0x01000193);
    h2 = Math.imul(h2 ^ b, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h2 ^= h2 >>> 16;
  h2 = Math.imul(h2, 0xc2b2ae35);
  h2 ^= h2 >>> 16;
  return [h1 >>> 0, h2 >>> 0];
}

export const hashId = (id: string): [number, number] => hashIdBytes(Buffer.from(id, 'utf8'));

const MAX_LOAD = 0.75;

export class ArchiveIndex {
  private cap: number;
  private hi: Uint32Array;
  private lo: Uint32Array;
  private offsets: Float64Array;
  /** 0 marks an empty slot (a line is never empty). */
  private lengths: Uint32Array;
  private files: Uint16Array;
  /** Entries held, duplicates included. */
  size = 0;

  constructor(initialCapacity = 1024) {
    this.cap = 1 << Math.max(4, Math.ceil(Math.log2(Math.max(16, initialCapacity))));
    this.hi = new Uint32Array(this.cap);
    this.lo = new Uint32Array(this.cap);
    this.offsets = new Float64Array(this.cap);
    this.lengths = new Uint32Array(this.cap);
    this.files = new Uint16Array(this.cap);
  }

  /** Bytes the tables take (for the benchmark's bytes-per-task figure). */
  get bytes(): number {
    return this.cap * (4 + 4 + 8 + 4 + 2);
  }

  addHashed(h: readonly [number, number], loc: ArchiveLocation): void {
    if (loc.length <= 0 || loc.length > 0xffffffff) throw new RangeError(`archive index: bad line length ${loc.length}`);
    if (loc.file < 0 || loc.file > 0xffff) throw new RangeError(`archive index: file number ${loc.file} out of range`);
    if ((this.size + 1) / this.cap > MAX_LOAD) this.grow();
    this.put(h[0], h[1], loc.file, loc.offset, loc.length);
    this.size++;
  }

  add(id: string, loc: ArchiveLocation): void {
    this.addHashed(hashId(id), loc);
  }

  /** Every entry whose hash matches the id, newest first (the reader checks the id itself). */
  candidates(id: string): ArchiveLocation[] {
    const [h1, h2] = hashId(id);
    const mask = this.cap - 1;
    const out: ArchiveLocation[] = [];
    // Linear probing without removal: a later insert of the same hash sits further along the run.
    for (let i = h1 & mask; this.lengths[i] !== 0; i = (i + 1) & mask) {
      if (this.hi[i] === h1 && this.lo[i] === h2) out.push({ file: this.files[i]!, offset: this.offsets[i]!, length: this.lengths[i]! });
    }
    return out.reverse();
  }

  private put(h1: number, h2: number, file: number, offset: number, length: number): void {
    const mask = this.cap - 1;
    let i = h1 & mask;
    while (this.lengths[i] !== 0) i = (i + 1) & mask;
    this.hi[i] = h1;
    this.lo[i] = h2;
    this.files[i] = file;
    this.offsets[i] = offset;
    this.lengths[i] = length;
  }

  private grow(): void {
    const { hi, lo, offsets, lengths, files, cap } = this;
    this.cap = cap * 2;
    this.hi = new Uint32Array(this.cap);
    this.lo = new Uint32Array(this.cap);
    this.offsets = new Float64Array(this.cap);
    this.lengths = new Uint32Array(this.cap);
    this.files = new Uint16Array(this.cap);
    // Walk the old table circularly from an empty slot: equal hashes sit in one probe run in
    // insertion order, and this walk re-inserts them in that order (newest stays last).
    let start = 0;
    while (lengths[start] !== 0) start++; // the load bound guarantees an empty slot
    for (let k = 1; k <= cap; k++) {
      const i = (start + k) & (cap - 1);
      if (lengths[i] !== 0) this.put(hi[i]!, lo[i]!, files[i]!, offsets[i]!, lengths[i]!);
    }
  }
}
