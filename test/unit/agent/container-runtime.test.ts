import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerRuntime, buildRunArgs, containerName, publishFlags } from '../../../agent/runtime/container.js';
import type { StartSpec } from '../../../agent/runtime/types.js';
import { TaskFailure } from '../../../shared/errors.js';
import { fixturesDir } from '../../helpers/paths.js';

const root = await mkdtemp(join(tmpdir(), 'fetchml-docker-'));
after(() => rm(root, { recursive: true, force: true }));
const log = join(root, 'docker.log');
const env = (extra: Record<string, string> = {}) => ({ ...process.env, PATH: `${join(fixturesDir, 'bin-docker')}:${process.env.PATH}`, FAKE_DOCKER_LOG: log, ...extra });
const calls = async () => (await readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as string[]);

function spec(id: string, extra: Partial<StartSpec> = {}): StartSpec {
  return {
    image: 'img', task_id: id, epoch: 3, argv: ['python3', 'train.py', '--lr', '0.1 0.2'], workspace: join(root, 'ws'), env: { SEED: '1' },
    gpus: { indices: [1, 3], uuids: ['GPU-aaa', 'GPU-bbb'] }, cpu: 4, memory_gb: 16,
    mounts: [{ host: '/data/cache/abc', container: '/datasets/mnist', readonly: true }],
    log_file: join(root, id, 'output.log'), run_dir: join(root, id, 'run'), ...extra,
  };
}

describe('run argv', () => {
  test('docker: GPUs by UUID, labels, mounts, limits, env, image, argv verbatim', () => {
    const a = buildRunArgs('docker', spec('t1'), 'pytorch:2', ['--ulimit', 'nofile=1024:1024']);
    assert.deepEqual(a.slice(0, 4), ['run', '-d', '--name', 'fetchml-t1-3']);
    const pair = (flag: string) => a.flatMap((x, i) => (x === flag ? [a[i + 1]] : []));
    assert.deepEqual(pair('--label'), ['fetchml.task=t1', 'fetchml.epoch=3']);
    assert.deepEqual(pair('--gpus'), ['"device=GPU-aaa,GPU-bbb"']);
    assert.deepEqual(pair('-v'), [`${join(root, 'ws')}:/workspace`, '/data/cache/abc:/datasets/mnist:ro']);
    assert.deepEqual(pair('-w'), ['/workspace']);
    assert.deepEqual(pair('--cpus'), ['4']);
    assert.deepEqual(pair('--memory'), ['16384m']);
    assert.deepEqual(pair('-e'), ['SEED=1', 'NVIDIA_VISIBLE_DEVICES=GPU-aaa,GPU-bbb']);
    assert.deepEqual(a.slice(-7), ['--ulimit', 'nofile=1024:1024', 'pytorch:2', 'python3', 'train.py', '--lr', '0.1 0.2']);
  });

  test('podman: one CDI device per GPU; no GPUs → NVIDIA_VISIBLE_DEVICES=void', () => {
    const a = buildRunArgs('podman', spec('t2'), 'img');
    assert.deepEqual(a.flatMap((x, i) => (x === '--device' ? [a[i + 1]] : [])), ['nvidia.com/gpu=GPU-aaa', 'nvidia.com/gpu=GPU-bbb']);
    assert.ok(!a.includes('--gpus'));
    const b = buildRunArgs('docker', spec('t3', { gpus: { indices: [], uuids: [] }, cpu: undefined, memory_gb: undefined, env: { CUDA_VISIBLE_DEVICES: '0' } }), 'img');
    assert.ok(!b.includes('--gpus') && !b.includes('--cpus') && !b.includes('--memory'));
    assert.ok(b.includes('NVIDIA_VISIBLE_DEVICES=void'));
    assert.ok(!b.some((x) => x.startsWith('CUDA_VISIBLE_DEVICES')));
  });

  test('names are sanitised; paths with ":" are refused', () => {
    assert.equal(containerName('a/b:c', 1), 'fetchml-a_b_c-1');
    assert.throws(() => buildRunArgs('docker', spec('t4', { workspace: '/a:b' }), 'img'), TaskFailure);
  });
});

describe('networking: service ports and gangs', () => {
  const pair = (a: string[], flag: string) => a.flatMap((x, i) => (x === flag ? [a[i + 1]] : []));
  const svcEnv = { FETCHML_SERVICE_PORT: '41234', FETCHML_SERVICE_BIND: '10.1.2.3' };

  test('a service publishes its port on the bind address, and listens on every interface inside', () => {
    for (const cli of ['docker', 'podman'] as const) {
      const a = buildRunArgs(cli, spec('s1', { env: svcEnv, publish: [{ host: '10.1.2.3', port: 41234 }] }), 'img');
      assert.deepEqual(pair(a, '--publish'), ['10.1.2.3:41234:41234/tcp']);
      assert.ok(pair(a, '-e').includes('FETCHML_SERVICE_BIND=0.0.0.0'), 'the host address does not exist inside the container');
      assert.ok(pair(a, '-e').includes('FETCHML_SERVICE_PORT=41234'));
      assert.ok(!a.includes('--network'));
      assert.ok(a.indexOf('--publish') < a.indexOf('img'), 'flags come before the image');
    }
    const wild = buildRunArgs('docker', spec('s2', { publish: [{ host: '0.0.0.0', port: 8888 }, { host: '0.0.0.0', port: 8888 }] }), 'img');
    assert.deepEqual(pair(wild, '--publish'), ['0.0.0.0:8888:8888/tcp'], 'a repeated port is published once');
    const v6 = buildRunArgs('podman', spec('s3', { publish: [{ host: '::', port: 9000 }, { host: 'fd00::5', port: 9001 }] }), 'img');
    assert.deepEqual(pair(v6, '--publish'), ['[::]:9000:9000/tcp', '[fd00::5]:9001:9001/tcp']);
  });

  test('a batch task publishes nothing and keeps the engine network', () => {
    for (const extra of [{}, { publish: [] }]) {
      const a = buildRunArgs('docker', spec('b1', extra), 'img');
      assert.ok(!a.includes('--publish') && !a.includes('--network'));
    }
  });

  test('a gang shares the host network: nothing to publish, the bind address stays the host one', () => {
    const a = buildRunArgs('podman', spec('g1', { network: 'host', env: { ...svcEnv, MASTER_PORT: '29501' }, publish: [{ host: '10.1.2.3', port: 41234 }] }), 'img');
    assert.deepEqual(pair(a, '--network'), ['host']);
    assert.ok(!a.includes('--publish'));
    assert.ok(pair(a, '-e').includes('FETCHML_SERVICE_BIND=10.1.2.3'));
    assert.ok(pair(a, '-e').includes('MASTER_PORT=29501'));
  });

  test("a site's --network in the run flags wins; its host network drops the publish flags", () => {
    const own = buildRunArgs('docker', spec('n1', { network: 'host', publish: [{ host: '0.0.0.0', port: 7000 }] }), 'img', ['--network', 'lab']);
    assert.deepEqual(pair(own, '--network'), ['lab'], 'ours is not added next to the site one');
    assert.deepEqual(pair(own, '--publish'), ['0.0.0.0:7000:7000/tcp'], 'a bridge of the site still needs the port published');
    for (const flags of [['--network=host'], ['--net', 'host'], ['--net=host']]) {
      const a = buildRunArgs('docker', spec('n2', { env: svcEnv, publish: [{ host: '0.0.0.0', port: 7000 }] }), 'img', flags);
      assert.ok(!a.includes('--publish'), flags.join(' '));
      assert.ok(pair(a, '-e').includes('FETCHML_SERVICE_BIND=10.1.2.3'));
    }
  });

  test('bad ports and addresses are a TaskFailure and never reach argv', () => {
    const bad: unknown[] = [0, 70000, Number.NaN, -1, 80.5, '8080', undefined, Infinity];
    for (const port of bad) {
      assert.throws(
        () => buildRunArgs('docker', spec('x1', { publish: [{ host: '0.0.0.0', port: port as number }] }), 'img'),
        (e: unknown) => e instanceof TaskFailure && e.kind === 'infrastructure' && /not a TCP port/.test(e.message),
        String(port),
      );
    }
    for (const host of ['', 'jupyter.example', '0.0.0.0:80', '1.2.3', '-p', '::1]:9:9/tcp', null]) {
      assert.throws(
        () => buildRunArgs('podman', spec('x2', { publish: [{ host: host as string, port: 8888 }] }), 'img'),
        (e: unknown) => e instanceof TaskFailure && /not an IP address/.test(e.message),
        String(host),
      );
    }
    assert.throws(() => publishFlags([null as unknown as { host: string; port: number }]), TaskFailure);
  });
});

describe('docker runtime against the fake CLI', () => {
  test('start, logs, wait, cleanup; global flags go first', async () => {
    const rt = new ContainerRuntime({ cli: 'docker', env: env({ FAKE_DOCKER_EXIT_CODE: '3', FAKE_DOCKER_OUTPUT: 'epoch 1\nepoch 2\n' }), globalFlags: ['--host', 'unix:///x.sock'] });
    const s = spec('d1');
    await writeFile(join(root, 'pre.log'), '');
    const h = await rt.start(s);
    assert.equal(h.container, 'fetchml-d1-3');
    assert.deepEqual(await rt.wait(h), { exit_code: 3 });
    assert.equal(await readFile(s.log_file, 'utf8'), 'epoch 1\nepoch 2\n');
    assert.equal(await rt.reattach(h), 'exited');
    await rt.cleanup(h);
    assert.equal(await rt.reattach(h), 'lost');
    const argvs = await calls();
    assert.ok(argvs.every((a) => a[0] === '--host' && a[1] === 'unix:///x.sock'));
    assert.ok(argvs.some((a) => a[2] === 'run' && a.includes('"device=GPU-aaa,GPU-bbb"')));
    assert.ok(argvs.some((a) => a[2] === 'rm' && a.includes('-f') && a.includes('fetchml-d1-3')));
  });

  test('stop ends a running container with docker stop -t <grace seconds>', async () => {
    const rt = new ContainerRuntime({ cli: 'docker', env: env() });
    const h = await rt.start(spec('d2', { image: 'alpine' }));
    assert.equal(await rt.reattach(h), 'running');
    const waiting = rt.wait(h);
    await rt.stop(h, 2500);
    assert.deepEqual(await waiting, { exit_code: 143, signal: 'SIGTERM' });
    assert.ok((await calls()).some((a) => a[0] === 'stop' && a[1] === '-t' && a[2] === '3' && a[3] === 'fetchml-d2-3'));
    assert.deepEqual(await rt.listManaged(), ['fetchml-d2-3']);
    await rt.cleanup(h);
  });

  test('reattach from a fresh runtime appends only new output to the log', async () => {
    const e = env({ FAKE_DOCKER_EXIT_CODE: '0', FAKE_DOCKER_OUTPUT: 'line a\nline b\n' });
    const s = spec('d3');
    await writeFile(s.log_file.replace('output.log', ''), '').catch(() => undefined);
    const first = new ContainerRuntime({ cli: 'docker', env: e });
    const h = await first.start(s);
    await first.wait(h);
    const fresh = new ContainerRuntime({ cli: 'docker', env: e });
    assert.equal(await fresh.reattach(h), 'exited');
    assert.deepEqual(await fresh.wait(h), { exit_code: 0 });
    assert.equal(await readFile(s.log_file, 'utf8'), 'line a\nline b\n');
    await fresh.cleanup(h);
  });

  test('image pull failure is an infrastructure failure; no image at all too', async () => {
    const rt = new ContainerRuntime({ cli: 'docker', env: env({ FAKE_DOCKER_RUN_FAIL: 'pull' }) });
    await assert.rejects(rt.start(spec('d4')), (e: unknown) => e instanceof TaskFailure && e.kind === 'infrastructure' && /pull access denied/.test(e.message));
    await assert.rejects(new ContainerRuntime({ cli: 'docker', env: env() }).start(spec('d5', { image: undefined })), /no image/);
  });

  test('a bad port fails start before the engine is called', async () => {
    const rt = new ContainerRuntime({ cli: 'docker', env: env() });
    const before = (await calls().catch(() => [])).length;
    await assert.rejects(rt.start(spec('d7', { publish: [{ host: '0.0.0.0', port: 0 }] })), (e: unknown) => e instanceof TaskFailure && /port 0/.test(e.message));
    const later = await calls().catch(() => []);
    assert.equal(later.length, before, 'no docker call at all');
  });

  test('a missing CLI is an infrastructure failure', async () => {
    const rt = new ContainerRuntime({ cli: 'docker', env: { PATH: '/nonexistent' }, defaultImage: 'x' });
    await assert.rejects(rt.start(spec('d6')), (e: unknown) => e instanceof TaskFailure && e.kind === 'infrastructure' && /not installed/.test(e.message));
  });
});
