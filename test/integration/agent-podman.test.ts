/**
 * A researcher's task end to end in a real container: control, a `fetchml agent --runtime podman`
 * child process, a snapshot uploaded through the API and extracted into the container's /workspace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSnapshotArchive } from '../../shared/snapshot-archive.js';
import { buildBusyboxImage } from '../fixtures/busybox-image.js';
import { podmanSkip, podmanTestFlags, removePodmanRoot } from '../helpers/podman.js';
import { startCluster } from './agent-cluster.js';


test('a task runs in a real podman container through the agent: snapshot in /workspace, logs, exit code', { skip: podmanSkip, timeout: 120_000 }, async () => {
  const cluster = await startCluster();
  // Outside the cluster's dir: its containers are removed after the agent is gone (nothing can start one then).
  const root = await mkdtemp(join(tmpdir(), 'fetchml-podman-'));
  const globalFlags = podmanTestFlags(root);
  try {
    const image = await buildBusyboxImage(['podman', ...globalFlags], root);
    const code = join(cluster.dir, 'code');
    await mkdir(code);
    await writeFile(join(code, 'hello.txt'), 'hello from the snapshot\n');
    const snap = await createSnapshotArchive(code);
    assert.equal((await cluster.api('PUT', `/v1/snapshots/${snap.sha256}`, snap.bytes)).status, 201);

    const agent = cluster.startAgent('pod', {
      args: ['--runtime', 'podman'],
      env: {
        FETCHML_CONTAINER_GLOBAL_FLAGS: globalFlags.join(' '),
        FETCHML_CONTAINER_RUN_FLAGS: '--ulimit nofile=1024:1024 --ulimit nproc=4096:4096',
        FETCHML_DEFAULT_IMAGE: image,
      },
    });
    await agent.waitForOutput(/connecting to/);

    const task = await cluster.submit({
      job_name: 'in-container',
      entrypoint: "/bin/sh -c 'cat /workspace/hello.txt; echo cwd=$(pwd); exit 7'",
      snapshot_id: snap.sha256,
    });
    const done = await cluster.waitStatus(task.id, ['completed', 'failed'], 60_000);
    assert.equal(done.status, 'failed');
    assert.equal(done.exit_code, 7);
    assert.equal(done.failure_kind, 'entrypoint');
    const logs = await cluster.api<string>('GET', `/v1/tasks/${task.id}/logs`);
    assert.match(logs.body, /hello from the snapshot/);
    assert.match(logs.body, /cwd=\/workspace/);
  } finally {
    await cluster.close();
    await removePodmanRoot(root);
  }
});
