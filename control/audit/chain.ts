/**
 * The audit hash chain, as pure functions. Each event names its place (`sequence_num`, from 1, no
 * gaps) and the hash of the one before (`prev_hash`, 64 zeros for the first); `event_hash` is the
 * sha256 of the RFC 8785 canonical JSON of the event without `event_hash`.
 */
import type { AuditEvent, AuditEventDraft, VerificationResult } from '../../shared/api-types.js';
import { canonicalJson, sha256Hex } from '../../shared/canonical-json.js';

export const GENESIS_HASH = '0'.repeat(64);

/** Where the chain stands: the last event's sequence number and hash (0 and GENESIS when empty). */
export interface ChainHead {
  sequence_num: number;
  event_hash: string;
}
export const GENESIS_HEAD: ChainHead = { sequence_num: 0, event_hash: GENESIS_HASH };

export interface AuditCheckpointInput {
  root_hash: string;
  total_events: number;
}

export function hashAuditEvent(event: Omit<AuditEvent, 'event_hash'> | AuditEvent): string {
  const { event_hash: _ignored, ...rest } = event as AuditEvent;
  return sha256Hex(canonicalJson(rest));
}

/** Gives a draft its place after `head`; drops undefined fields so the hash is the file's hash. */
export function chainAuditEvent(draft: AuditEventDraft, head: ChainHead, timestamp: string): AuditEvent {
  const base: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(draft)) if (v !== undefined) base[k] = v;
  base.timestamp = draft.timestamp ?? timestamp;
  base.sequence_num = head.sequence_num + 1;
  base.prev_hash = head.event_hash;
  const event = base as unknown as AuditEvent;
  event.event_hash = hashAuditEvent(event);
  return event;
}

/** One line of an audit log: the event, or why it could not be read. */
export type AuditLogEntry = { event: AuditEvent } | { unparsable: string };

/** Splits JSON Lines text into entries; a trailing newline does not make an extra entry. */
export function parseAuditLines(text: string): AuditLogEntry[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map(parseAuditLine);
}

export function parseAuditLine(line: string): AuditLogEntry {
  try {
    const v: unknown = JSON.parse(line);
    if (isAuditEventShape(v)) return { event: v };
    return { unparsable: 'not an audit event' };
  } catch (err) {
    return { unparsable: (err as Error).message };
  }
}

function isAuditEventShape(v: unknown): v is AuditEvent {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const e = v as Record<string, unknown>;
  return (
    Number.isSafeInteger(e.sequence_num) &&
    typeof e.prev_hash === 'string' &&
    typeof e.event_hash === 'string' &&
    typeof e.event_type === 'string' &&
    typeof e.timestamp === 'string'
  );
}

/**
 * Recomputes the chain from genesis. `first_tampered` is the first sequence number at which the log
 * stops being the chain it claims to be: a changed field (that event), a deleted or swapped event
 * (where the sequence breaks), an unreadable line (the number that line should have had).
 * A checkpoint detects what a bare chain cannot (tail truncation, whole-chain rewrite): the log
 * must still hold an event with the checkpoint's sequence number and hash.
 */
export function verifyChain(
  entries: readonly AuditLogEntry[],
  checkpoint: AuditCheckpointInput | undefined,
  verifiedAt: string,
): VerificationResult {
  const v = new ChainVerifier(checkpoint);
  for (const entry of entries) v.add(entry);
  return v.result(verifiedAt);
}

/** verifyChain one entry at a time, so a long log is checked without holding it all. */
export class ChainVerifier {
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  private firstTampered: number | undefined;
  private reason: string | undefined;
  private total = 0;
  private hashAtCheckpoint: string | undefined;

  constructor(private readonly checkpoint: AuditCheckpointInput | undefined) {}

  add(entry: AuditLogEntry): void {
    if (!('event' in entry)) {
      if (this.firstTampered === undefined) {
        this.firstTampered = this.expectedSeq;
        this.reason = `line for sequence ${this.expectedSeq} is unreadable: ${entry.unparsable}`;
      }
      this.expectedSeq++;
      return;
    }
    const e = entry.event;
    this.total++;
    if (this.checkpoint && e.sequence_num === this.checkpoint.total_events) this.hashAtCheckpoint = e.event_hash;
    if (this.firstTampered === undefined) {
      if (e.sequence_num !== this.expectedSeq) {
        this.firstTampered = this.expectedSeq;
        this.reason = `expected sequence ${this.expectedSeq}, found ${e.sequence_num}`;
      } else if (e.prev_hash !== this.prevHash) {
        this.firstTampered = e.sequence_num;
        this.reason = `event ${e.sequence_num} does not link to the event before it`;
      } else if (hashAuditEvent(e) !== e.event_hash) {
        this.firstTampered = e.sequence_num;
        this.reason = `event ${e.sequence_num} does not match its hash`;
      }
    }
    this.prevHash = e.event_hash;
    this.expectedSeq = Math.max(this.expectedSeq, e.sequence_num) + 1;
  }

  result(verifiedAt: string): VerificationResult {
    const { checkpoint, firstTampered, total, expectedSeq } = this;
    const result: VerificationResult = {
      valid: firstTampered === undefined,
      total_events: total,
      chain_root_hash: total === 0 ? GENESIS_HASH : this.prevHash,
      verified_at: verifiedAt,
    };
    if (firstTampered !== undefined) {
      result.first_tampered = firstTampered;
      result.reason = this.reason;
    }
    if (checkpoint) {
      const problem = checkCheckpoint(checkpoint, this.hashAtCheckpoint, expectedSeq - 1);
      result.checkpoint_valid = problem === undefined;
      if (problem) {
        result.valid = false;
        result.reason = result.reason ? `${result.reason}; ${problem}` : problem;
        if (result.first_tampered === undefined) {
          // Truncation: the first missing number. Rewrite: the checkpoint's event no longer matches.
          result.first_tampered = Math.min(expectedSeq, Math.max(1, checkpoint.total_events));
        }
      }
    }
    return result;
  }
}

function checkCheckpoint(cp: AuditCheckpointInput, hashThere: string | undefined, lastSeq: number): string | undefined {
  if (!Number.isSafeInteger(cp.total_events) || cp.total_events < 0) return 'checkpoint total_events is not a count';
  if (cp.total_events === 0) {
    return cp.root_hash === GENESIS_HASH ? undefined : 'checkpoint of an empty log must have the genesis hash';
  }
  if (hashThere === undefined) {
    return `checkpoint names event ${cp.total_events}, but the log ends at ${lastSeq}: events were removed (truncated)`;
  }
  if (hashThere !== cp.root_hash) {
    return `event ${cp.total_events} no longer has the checkpoint's hash: the log was rewritten`;
  }
  return undefined;
}
