/**
 * The agent's hardware fingerprint: small units (gpu, cpu, memory, os) put together here.
 * GPUs come from nvidia-smi (see gpu.ts), never from systeminformation's graphics().
 */
import os from 'node:os';
import si from 'systeminformation';
import { probeCpu } from './cpu.js';
import { probeMemory } from './memory.js';

export { createGpuProber, defaultExec } from './gpu.js';
export type { ExecFn, GpuProbeResult, GpuProbeStatus, GpuProber, GpuProberOptions } from './gpu.js';
export { parseNvidiaSmiXml } from './nvidia-xml.js';
export { probeCpu } from './cpu.js';
export { probeMemory } from './memory.js';

export interface HostInfo {
  cpu_cores: number;
  memory_gb: number;
  hostname: string;
  os: string;
}

export async function probeOs(): Promise<string> {
  try {
    const o = await si.osInfo();
    return [o.distro, o.release, `(${o.platform} ${o.kernel} ${o.arch})`].filter(Boolean).join(' ');
  } catch {
    return `${os.type()} ${os.release()} ${os.arch()}`;
  }
}

export async function probeHost(): Promise<HostInfo> {
  const [cpu, mem, osName] = await Promise.all([probeCpu(), probeMemory(), probeOs()]);
  return { cpu_cores: cpu.cpu_cores, memory_gb: mem.memory_gb, hostname: os.hostname(), os: osName };
}
