/**
 * A bounded in-memory log of stream events with increasing ids, for SSE `Last-Event-ID` resume:
 * a client that reconnects gets what it missed if it is still in the ring, else a fresh start.
 */
export interface RingEvent {
  id: number;
  event: string;
  /** JSON text. */
  data: string;
  /** Set on task events, so a job stream can pick its own. */
  task_id?: string;
}

export class EventRing {
  private readonly buf: (RingEvent | undefined)[];
  private next = 1;

  constructor(readonly capacity = 10_000) {
    this.buf = new Array(Math.max(1, capacity));
  }

  /** The id of the newest event (0 when none yet). */
  get lastId(): number {
    return this.next - 1;
  }

  push(event: string, data: string, taskId?: string): RingEvent {
    const e: RingEvent = { id: this.next++, event, data, ...(taskId !== undefined ? { task_id: taskId } : {}) };
    this.buf[e.id % this.buf.length] = e;
    return e;
  }

  /**
   * Events after `lastId`, oldest first; undefined when `lastId` is not a number this ring issued
   * or events after it were already dropped (the client must start over).
   */
  since(lastId: number): RingEvent[] | undefined {
    if (!Number.isInteger(lastId) || lastId < 0 || lastId > this.lastId) return undefined;
    const oldest = Math.max(1, this.next - this.buf.length);
    if (lastId + 1 < oldest) return undefined;
    const out: RingEvent[] = [];
    for (let id = lastId + 1; id < this.next; id++) out.push(this.buf[id % this.buf.length]!);
    return out;
  }
}

/** Parses a Last-Event-ID header; undefined for anything but a non-negative integer. */
export function parseLastEventId(v: unknown): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (typeof s !== 'string' || !/^\d{1,15}$/.test(s.trim())) return undefined;
  return Number(s.trim());
}
