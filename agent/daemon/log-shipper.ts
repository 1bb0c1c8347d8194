/**
 * Ships one task's log file to control as log_chunk frames with byte offsets (≤ LOG_CHUNK_BYTES).
 * It tails the file the runtime writes; after a reconnect it starts again from the offset control
 * acknowledged (control drops bytes it already has, so resending is harmless).
 */
import { statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { LOG_CHUNK_BYTES, type LogChunkMessage } from '../../shared/protocol.js';

/** Length of `buf` without a trailing incomplete UTF-8 sequence (so chunks decode cleanly). */
export function utf8SafeLength(buf: Buffer, len: number): number {
  let i = len - 1;
  let back = 0;
  while (i >= 0 && back < 4 && (buf[i]! & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return len;
  const lead = buf[i]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return len - i < need ? i : len;
}

export class LogShipper {
  private sent: number;
  private busy: Promise<void> | undefined;

  constructor(
    private readonly taskId: string,
    private readonly epoch: number,
    private readonly file: string,
    acked: number,
    /** Returns false when the frame could not be sent (disconnected). */
    private readonly send: (m: LogChunkMessage) => boolean,
  ) {
    this.sent = acked;
  }

  /** After a reconnect: resend from what control confirmed. */
  rewind(acked: number): void {
    this.sent = acked;
  }

  /** Sends everything written so far; `final` also sends a trailing partial UTF-8 sequence. */
  pump(final = false): Promise<void> {
    const run = async () => {
      // Most pumps find nothing new: one in-thread stat instead of open/read/close through the pool.
      let size: number;
      try {
        size = statSync(this.file).size;
      } catch {
        return; // not written yet
      }
      if (size <= this.sent) return;
      let fh;
      try {
        fh = await open(this.file, 'r');
      } catch {
        return; // not written yet
      }
      try {
        const buf = Buffer.allocUnsafe(LOG_CHUNK_BYTES);
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, LOG_CHUNK_BYTES, this.sent);
          if (bytesRead === 0) return;
          let len = utf8SafeLength(buf, bytesRead);
          if (len === 0) {
            if (!final && bytesRead < 4) return; // wait for the rest of the character
            len = bytesRead;
          }
          const ok = this.send({ type: 'log_chunk', task_id: this.taskId, epoch: this.epoch, offset: this.sent, data: buf.toString('utf8', 0, len) });
          if (!ok) return;
          this.sent += len;
        }
      } finally {
        await fh.close();
      }
    };
    // One pump at a time; a pump asked for while one runs runs after it.
    const next = (this.busy ?? Promise.resolve()).then(run, run);
    this.busy = next;
    return next;
  }
}
