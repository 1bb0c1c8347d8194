/** Memory fingerprint through systeminformation, in whole GB (GiB, rounded down) as the API's Worker schema counts it. */
import os from 'node:os';
import si from 'systeminformation';

export async function probeMemory(): Promise<{ memory_gb: number }> {
  let bytes: number;
  try {
    bytes = (await si.mem()).total || os.totalmem();
  } catch {
    bytes = os.totalmem();
  }
  return { memory_gb: Math.floor(bytes / 1024 ** 3) };
}
