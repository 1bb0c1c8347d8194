/**
 * Acknowledgements of agents' status frames, each sent once the change it confirms is durable (at
 * once when nothing changed), without holding up the agent's next frames: they pipeline into
 * shared group commits. The agent drops a status from its outbox only on the ack, so a change
 * lost to a failed commit is resent.
 */
import type { WebSocket } from 'ws';
import type { TaskAckMessage } from '../../shared/protocol.js';

export type AckWhenDurable = (ws: WebSocket, ack: TaskAckMessage, applied: Promise<unknown> | undefined) => void;

export function durableAcks(send: (ws: WebSocket, ack: TaskAckMessage) => void, onError: (err: unknown, taskId: string) => void): AckWhenDurable {
  /** Per task: the commit still in flight for its last applied status. */
  const unsettled = new Map<string, Promise<unknown>>();
  return (ws, ack, applied) => {
    // A duplicate of a status whose commit is still in flight is acked only once that one is durable.
    const durable = applied ?? unsettled.get(ack.task_id);
    if (!durable) return send(ws, ack);
    if (applied) {
      const settled = applied.then(
        () => undefined,
        () => undefined,
      );
      unsettled.set(ack.task_id, settled);
      void settled.then(() => {
        if (unsettled.get(ack.task_id) === settled) unsettled.delete(ack.task_id);
      });
    }
    durable.then(
      () => send(ws, ack),
      (err: unknown) => onError(err, ack.task_id),
    );
  };
}
