/** CPU fingerprint through systeminformation: logical cores the scheduler may hand out. */
import os from 'node:os';
import si from 'systeminformation';

export async function probeCpu(): Promise<{ cpu_cores: number; model?: string }> {
  try {
    const cpu = await si.cpu();
    const cores = cpu.cores || os.availableParallelism();
    return { cpu_cores: cores, model: `${cpu.manufacturer} ${cpu.brand}`.trim() };
  } catch {
    return { cpu_cores: os.availableParallelism() };
  }
}
