/**
 * Service and gang tasks in container runtimes, through control and real agents: a service's port is
 * published (`--publish <bind>:<port>:<port>/tcp`, the server listening on 0.0.0.0 inside), a
 * batch task publishes nothing, a gang runs on the host network. With the fake docker the argv is
 * checked and the test itself answers on the published port; with real podman a busybox httpd in
 * the container answers the agent's readiness probe through the published port.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JupyterService } from '../../shared/api-types.js';
import { buildBusyboxImage } from '../fixtures/busybox-image.js';
import { podmanSkip, podmanTestFlags, removePodmanRoot } from '../helpers/podman.js';
import { fixturesDir } from '../helpers/paths.js';
import { waitFor } from '../helpers/wait.js';
import { startCluster, type Cluster } from './agent-cluster.js';

const pair = (a: string[], flag: string) => a.flatMap((x, i) => (x === flag ? [a[i + 1]!] : []));
const envOf = (a: string[], name: string) => pair(a, '-e').find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);

describe('container networking through the agent (fake docker)', () => {
  let c: Cluster;
  const logs: string[] = [];
  /** The `docker run` argv of a task (one per node), from every agent's fake-docker log. */
  const runsOf = async (taskId: string): Promise<string[][]> => {
    const all: string[][] = [];
    for (const log of logs) {
      const text = await readFile(log, 'utf8').catch(() => '');
      for (const line of text.split('\n').filter(Boolean)) {
        const argv = JSON.parse(line) as string[];
        if (argv[0] === 'run' && argv.includes(`fetchml.task=${taskId}`)) all.push(argv);
      }
    }
    return all;
  };
  const servers: Server[] = [];

  before(async () => {
    c = await startCluster();
    for (const name of ['a', 'b']) {
      const log = join(c.dir, `docker-${name}.log`);
      logs.push(log);
      const agent = c.startAgent(name, {
        args: ['--runtime', 'docker', '--service-slots', '1'],
        env: {
          PATH: `${join(fixturesDir, 'bin-docker')}:${join(fixturesDir, 'bin-nvidia')}:${process.env.PATH}`,
          FAKE_DOCKER_LOG: log,
          // One engine per host: both nodes of a gang name their container alike.
          FAKE_DOCKER_STATE: join(c.dir, `docker-state-${name}`),
          FETCHML_DEFAULT_IMAGE: 'img:test',
          // A specific host address: the publish flag carries it, the container gets 0.0.0.0.
          FETCHML_SERVICE_BIND: '127.0.0.1',
          FETCHML_SERVICE_READY_SECONDS: '20',
        },
      });
      await agent.waitForOutput(/connecting to/);
    }
    await waitFor(async () => (await c.workers()).filter((w) => w.status === 'active').length === 2, { what: 'two active workers' });
  });
  after(async () => {
    for (const s of servers) s.close();
    await c.close();
  });

  test('a Jupyter service publishes the port it reports; the URL names that port', async () => {
    const created = await c.api<JupyterService>('POST', '/v1/jupyter/services', { name: 'nb' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const taskId = created.body.task_id!;
    const [run] = await waitFor(async () => {
      const r = await runsOf(taskId);
      return r.length ? r : undefined;
    }, { what: 'docker run of the service' });
    const port = Number(envOf(run!, 'FETCHML_SERVICE_PORT'));
    assert.ok(Number.isInteger(port) && port > 0 && port < 65536, `service port ${port}`);
    assert.deepEqual(pair(run!, '--publish'), [`127.0.0.1:${port}:${port}/tcp`]);
    assert.equal(envOf(run!, 'FETCHML_SERVICE_BIND'), '0.0.0.0', 'inside its own network the server listens on every interface');
    assert.ok(!run!.includes('--network'));

    // Stand in for the container's server behind the published port: the agent's probe reaches it.
    const srv = createServer((req, res) => res.writeHead(req.url?.startsWith('/api') ? 200 : 404).end('{}'));
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
    const running = await waitFor(async () => {
      const s = (await c.api<JupyterService[]>('GET', '/v1/jupyter/services')).body.find((x) => x.id === created.body.id);
      return s?.status === 'running' || s?.status === 'error' ? s : undefined;
    }, { what: 'the service to be running', timeoutMs: 20_000 });
    assert.equal(running.status, 'running', running.error);
    assert.equal(Number(new URL(running.url!).port), port, 'the URL port is the published one');

    assert.equal((await c.api('DELETE', `/v1/jupyter/services/${created.body.id}`)).status, 204);
    await c.waitStatus(taskId, ['cancelled', 'failed', 'completed']);
  });

  test('a batch task publishes nothing and keeps the engine network', async () => {
    const t = await c.submit({ entrypoint: '/bin/true' });
    const [run] = await waitFor(async () => {
      const r = await runsOf(t.id);
      return r.length ? r : undefined;
    }, { what: 'docker run of the batch task' });
    assert.ok(!run!.includes('--publish') && !run!.includes('--network'), run!.join(' '));
    assert.equal(envOf(run!, 'FETCHML_SERVICE_PORT'), undefined);
    await c.api('DELETE', `/v1/tasks/${t.id}`);
    await c.waitStatus(t.id, ['cancelled', 'failed', 'completed']);
  });

  test('both nodes of a gang run on the host network: MASTER_PORT on rank 0 is the host port', async () => {
    const t = await c.submit({ node_count: 2, gpu: 1, entrypoint: 'python3 train.py' });
    // Grouped by epoch: a node that refuses the assignment (its slot not yet freed) requeues the gang.
    const runs = await waitFor(async () => {
      const byEpoch = new Map<string, string[][]>();
      for (const r of await runsOf(t.id)) {
        const epoch = pair(r, '--label').find((l) => l.startsWith('fetchml.epoch=')) ?? '';
        byEpoch.set(epoch, [...(byEpoch.get(epoch) ?? []), r]);
      }
      return [...byEpoch.values()].find((r) => r.length === 2);
    }, { what: 'docker run on both nodes of one epoch' });
    for (const run of runs) {
      assert.deepEqual(pair(run, '--network'), ['host'], run.join(' '));
      assert.ok(!run.includes('--publish'));
    }
    const ranks = runs.map((r) => envOf(r, 'NODE_RANK')).sort();
    assert.deepEqual(ranks, ['0', '1']);
    const ports = new Set(runs.map((r) => envOf(r, 'MASTER_PORT')));
    assert.equal(ports.size, 1, 'both nodes rendezvous on one MASTER_PORT');
    assert.match([...ports][0] ?? '', /^\d+$/);
    await c.api('DELETE', `/v1/tasks/${t.id}`);
    await c.waitStatus(t.id, ['cancelled', 'failed', 'completed']);
  });
});


test('real podman: a busybox httpd service answers the agent on its published port', { skip: podmanSkip, timeout: 120_000 }, async () => {
  const cluster = await startCluster();
  // Outside the cluster's dir: its containers are removed after the agent is gone (nothing can start one then).
  const root = await mkdtemp(join(tmpdir(), 'fetchml-podman-'));
  const globalFlags = podmanTestFlags(root);
  try {
    const image = await buildBusyboxImage(['podman', ...globalFlags], root);
    const agent = cluster.startAgent('pod', {
      args: ['--runtime', 'podman', '--service-slots', '1'],
      env: {
        FETCHML_CONTAINER_GLOBAL_FLAGS: globalFlags.join(' '),
        FETCHML_CONTAINER_RUN_FLAGS: '--ulimit nofile=1024:1024 --ulimit nproc=4096:4096',
        FETCHML_DEFAULT_IMAGE: image,
        // Loopback on the host; the httpd binds $FETCHML_SERVICE_BIND inside, which must be 0.0.0.0 to be reachable.
        FETCHML_SERVICE_BIND: '127.0.0.1',
        FETCHML_SERVICE_READY_SECONDS: '30',
        FETCHML_LOG_LEVEL: 'info', // the 'service is up' line
      },
    });
    await agent.waitForOutput(/connecting to/);
    const script = 'mkdir -p /tmp/www && echo up > /tmp/www/api && trap "exit 0" TERM && httpd -f -p "$FETCHML_SERVICE_BIND:$FETCHML_SERVICE_PORT" -h /tmp/www & wait';
    const task = await cluster.submit({ slot_kind: 'service', entrypoint: `/bin/sh -c '${script}'` });
    const m = await agent.waitForOutput(/"port":(\d+),"ready":(true|false)/, 60_000);
    assert.equal(m[2], 'true', `the agent's probe got an answer:\n${agent.output().slice(-2000)}`);
    const port = Number(m[1]);
    const ps = execFileSync('podman', [...globalFlags, 'ps', '--format', '{{.Ports}}', '--filter', `label=fetchml.task=${task.id}`], { encoding: 'utf8' });
    assert.match(ps, new RegExp(`127\\.0\\.0\\.1:${port}->${port}/tcp`));
    const r = await fetch(`http://127.0.0.1:${port}/api`);
    assert.equal(await r.text(), 'up\n', 'the server in the container answers on the published host port');
    assert.equal((await cluster.task(task.id)).status, 'running');
    await cluster.api('DELETE', `/v1/tasks/${task.id}`);
    await cluster.waitStatus(task.id, ['cancelled', 'failed', 'completed'], 30_000);
    // Control marks it cancelled at once; the slot comes back when the agent has stopped the container.
    await waitFor(async () => (await cluster.workers())[0]?.slots.service_available === 1, { what: 'the container stopped', timeoutMs: 30_000 });
  } finally {
    await cluster.close();
    await removePodmanRoot(root);
  }
});
