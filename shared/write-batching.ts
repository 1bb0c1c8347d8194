/**
 * Coalesces the writes one tick makes to a socket into one system call: the first write of a tick
 * corks the socket and the next tick uncorks it, so a burst of WebSocket frames (a scheduling
 * pass's assignments, a group commit's acks, a batch of status frames) leaves as one writev
 * instead of one each. Latency stays within the tick that wrote.
 */
import type { Socket } from 'node:net';

export function writeBatcher(socket: Pick<Socket, 'cork' | 'uncork' | 'destroyed'>): () => void {
  let corked = false;
  const flush = () => {
    corked = false;
    if (!socket.destroyed) socket.uncork();
  };
  return () => {
    if (corked || socket.destroyed) return;
    corked = true;
    socket.cork();
    process.nextTick(flush);
  };
}
