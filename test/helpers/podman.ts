/** What the real-podman tests share: whether podman is here, and the flags that make it run in CI (docs/agent.md). */
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

export const podmanSkip: string | false = (() => {
  try {
    execFileSync('which', ['podman'], { stdio: 'ignore' });
    return false;
  } catch (err) { console.error('DBG rm failed', String(err).slice(0, 500));
    return 'podman is not installed (.ci/run installs podman runc busybox-static)';
  }
})();

/** Rootful podman without systemd or overlay: private storage under `root`, vfs, cgroupfs, runc. */
export function podmanTestFlags(root: string): string[] {
  return ['--root', join(root, 'storage'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc'];
}

/** Removes every container of this private podman root, then the root (conmon may still write in it a moment). */
export async function removePodmanRoot(root: string): Promise<void> {
  try {
    execFileSync('podman', [...podmanTestFlags(root), 'rm', '-af'], { stdio: 'ignore' });
  } catch {
    /* nothing to remove */
  }
  await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }).catch(() => undefined);
}
