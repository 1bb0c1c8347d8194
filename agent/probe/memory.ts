/** Memory fingerprint through systeminformation, in GB (GiB, one decimal) as the API counts it. */
import os from 'node:os';
import si from 'systeminformation';

export async function probeMemory(): Promise<{ memory_gb: number }> {
  let bytes: number;
  try {
    bytes = (await si.mem()).total || os.totalmem();
  } catch {
    bytes = os.totalmem();
  }
  return { memory_gb: Math.round((bytes / 1024 ** 3) * 10) / 10 };
}
