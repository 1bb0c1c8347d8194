import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir } from '../../helpers/paths.js';
import { createGpuProber, parseNvidiaSmiXml, probeHost, type ExecFn } from '../../../agent/probe/index.js';

const xml = (name: string) => readFileSync(join(fixturesDir, 'nvidia-smi', `${name}.xml`), 'utf8');
const fakeBin = join(fixturesDir, 'bin-nvidia');
const envWith = (extra: Record<string, string>) => ({ ...process.env, PATH: `${fakeBin}:${process.env.PATH}`, ...extra });

describe('parseNvidiaSmiXml', () => {
  test('one GPU', () => {
    const [g, ...rest] = parseNvidiaSmiXml(xml('1gpu'));
    assert.equal(rest.length, 0);
    assert.ok(g);
    assert.equal(g.index, 0);
    assert.match(g.uuid, /^GPU-[0-9a-f-]{36}$/);
    assert.equal(g.name, 'NVIDIA A100-SXM4-40GB');
    assert.equal(g.memory_total_mb, 40960);
    assert.equal(g.memory_used_mb, 0);
    assert.equal(g.healthy, true);
    assert.equal(g.ecc_uncorrectable, 0);
  });

  test('two GPUs with utilisation and temperature', () => {
    const gpus = parseNvidiaSmiXml(xml('2gpu'));
    assert.deepEqual(gpus.map((g) => g.index), [0, 1]);
    assert.equal(gpus[1]?.utilization_pct, 87);
    assert.equal(gpus[1]?.temperature_c, 64);
    assert.equal(gpus[1]?.memory_used_mb, 51234);
    assert.notEqual(gpus[0]?.uuid, gpus[1]?.uuid);
  });

  test('eight H100s', () => {
    const gpus = parseNvidiaSmiXml(xml('8gpu'));
    assert.equal(gpus.length, 8);
    assert.ok(gpus.every((g) => g.name === 'NVIDIA H100 80GB HBM3' && g.memory_total_mb === 81559 && g.healthy));
    assert.equal(new Set(gpus.map((g) => g.uuid)).size, 8);
    assert.deepEqual(gpus.map((g) => g.index), [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test('a GPU with uncorrectable ECC errors is unhealthy and says why', () => {
    const [ok, bad] = parseNvidiaSmiXml(xml('ecc'));
    assert.equal(ok?.healthy, true);
    assert.equal(bad?.healthy, false);
    assert.equal(bad?.ecc_uncorrectable, 2);
    assert.match(bad?.unhealthy_reason ?? '', /2 uncorrectable ECC/);
  });

  test('old double_bit ECC layout and N/A values', () => {
    const doc = `<?xml version="1.0" ?><nvidia_smi_log><gpu id="0"><product_name>Tesla V100</product_name>
      <uuid>GPU-1</uuid><minor_number>3</minor_number><fb_memory_usage><total>16160 MiB</total><used>N/A</used></fb_memory_usage>
      <ecc_errors><volatile><single_bit><total>5</total></single_bit><double_bit><device_memory>1</device_memory><total>1</total></double_bit></volatile>
      <aggregate><double_bit><total>N/A</total></double_bit></aggregate></ecc_errors></gpu></nvidia_smi_log>`;
    const [g] = parseNvidiaSmiXml(doc);
    assert.equal(g?.index, 3);
    assert.equal(g?.memory_used_mb, undefined);
    assert.equal(g?.ecc_uncorrectable, 1);
    assert.equal(g?.healthy, false);
  });

  test('no GPUs attached parses to an empty list', () => {
    assert.deepEqual(parseNvidiaSmiXml('<?xml version="1.0" ?><nvidia_smi_log><attached_gpus>0</attached_gpus></nvidia_smi_log>'), []);
  });

  for (const bad of [xml('garbage'), '', '<html></html>', '<nvidia_smi_log><gpu><product_name>x</product_name></gpu></nvidia_smi_log>']) {
    test(`garbage throws: ${JSON.stringify(bad.slice(0, 30))}`, () => {
      assert.throws(() => parseNvidiaSmiXml(bad));
    });
  }
});

describe('GPU prober', () => {
  const clock = { t: 1_000_000, now() { return this.t; } };

  test('keeps the last good reading when nvidia-smi starts failing, then recovers', async () => {
    let mode: 'ok' | 'fail' | 'garbage' = 'ok';
    const exec: ExecFn = async () => {
      if (mode === 'fail') throw Object.assign(new Error('Command failed with exit code 9'), { exitCode: 9 });
      return mode === 'ok' ? xml('2gpu') : xml('garbage');
    };
    const prober = createGpuProber({ exec, clock });
    const first = await prober.probe();
    assert.equal(first.status, 'ok');
    assert.equal(first.gpus.length, 2);
    mode = 'fail';
    clock.t += 30_000;
    const second = await prober.probe();
    assert.equal(second.status, 'degraded');
    assert.deepEqual(second.gpus, first.gpus);
    assert.match(second.message ?? '', /exit code 9.*30 s old/);
    mode = 'garbage';
    assert.equal((await prober.probe()).status, 'degraded');
    mode = 'ok';
    assert.equal((await prober.probe()).status, 'ok');
  });

  test('a hung nvidia-smi is timed out and not started again while stuck', async () => {
    let calls = 0;
    let release!: () => void;
    const exec: ExecFn = () => {
      calls++;
      return calls !== 2 ? Promise.resolve(xml('1gpu')) : new Promise((_, reject) => (release = () => reject(new Error('killed'))));
    };
    const prober = createGpuProber({ exec, clock, timeoutMs: 10 });
    assert.equal((await prober.probe()).status, 'ok');
    const hung = await prober.probe();
    assert.equal(hung.status, 'degraded');
    assert.equal(hung.gpus.length, 1);
    const again = await prober.probe();
    assert.equal(again.status, 'degraded');
    assert.match(again.message ?? '', /still hung/);
    assert.equal(calls, 2);
    release();
    await new Promise((r) => setImmediate(r));
    assert.equal((await prober.probe()).status, 'ok');
    assert.equal(calls, 3);
  });

  test('missing nvidia-smi means a CPU-only worker, logged once', async () => {
    const infos: string[] = [];
    const logger = { info: (m: string) => infos.push(m), warn: () => {} } as never;
    const exec: ExecFn = async () => {
      throw Object.assign(new Error('spawn nvidia-smi ENOENT'), { code: 'ENOENT' });
    };
    const prober = createGpuProber({ exec, logger });
    assert.deepEqual(await prober.probe(), { status: 'no_gpu', gpus: [] });
    assert.deepEqual(await prober.probe(), { status: 'no_gpu', gpus: [] });
    assert.equal(infos.length, 1);
    assert.match(infos[0] ?? '', /CPU-only/);
  });

  test('real exec: the fake nvidia-smi on PATH is found and parsed', async () => {
    const r = await createGpuProber({ env: envWith({ FAKE_NVIDIA_SMI_FIXTURE: '8gpu' }) }).probe();
    assert.equal(r.status, 'ok');
    assert.equal(r.gpus.length, 8);
  });

  test('real exec: a hanging fake nvidia-smi is killed at the timeout', async () => {
    const started = Date.now();
    const r = await createGpuProber({ env: envWith({ FAKE_NVIDIA_SMI_HANG: '1' }), timeoutMs: 300 }).probe();
    assert.equal(r.status, 'degraded');
    assert.match(r.message ?? '', /timed out/);
    assert.ok(Date.now() - started < 3000);
  });

  test('real exec: failing fake nvidia-smi is degraded with its reason', async () => {
    const r = await createGpuProber({ env: envWith({ FAKE_NVIDIA_SMI_FAIL: '1' }) }).probe();
    assert.equal(r.status, 'degraded');
    assert.deepEqual(r.gpus, []);
  });

  test('real exec: no nvidia-smi on PATH', async () => {
    const r = await createGpuProber({ env: { PATH: '/nonexistent' } }).probe();
    assert.equal(r.status, 'no_gpu');
  });
});

test('probeHost reports cores, memory, hostname and OS', async () => {
  const h = await probeHost();
  assert.ok(Number.isInteger(h.cpu_cores) && h.cpu_cores >= 1);
  assert.ok(h.memory_gb > 0 && Number.isInteger(h.memory_gb), String(h.memory_gb));
  assert.ok(h.hostname.length > 0);
  assert.ok(h.os.length > 0);
});
