/** What the real-podman tests share: whether podman is here, and the flags that make it run in CI (docs/agent.md). */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export const podmanSkip: string | false = (() => {
  try {
    execFileSync('which', ['podman'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'podman is not installed (.ci/run installs podman runc busybox-static)';
  }
})();

/** Rootful podman without systemd or overlay: private storage under `root`, vfs, cgroupfs, runc. */
export function podmanTestFlags(root: string): string[] {
  return ['--root', join(root, 'storage'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc'];
}
