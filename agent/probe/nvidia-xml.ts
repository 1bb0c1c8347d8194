/**
 * Parses `nvidia-smi -q -x` output (the nvidia_smi_log document) into GpuInfo. Pure: the tests feed
 * it recorded XML from test/fixtures/nvidia-smi/. Handles both ECC layouts: R470-era
 * `single_bit`/`double_bit` (double-bit = uncorrectable) and R525+ `sram_/dram_uncorrectable`.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { GpuInfo } from '../../shared/api-types.js';

type Node = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false, // keep "81559 MiB" etc. as text; numbers are parsed below
  isArray: (name, jpath) => jpath === 'nvidia_smi_log.gpu' && name === 'gpu',
  processEntities: false,
});

/** Throws an Error with a short reason when `xml` is not an nvidia_smi_log document. */
export function parseNvidiaSmiXml(xml: string): GpuInfo[] {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`nvidia-smi printed malformed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const doc = parser.parse(xml) as Node;
  const log = doc.nvidia_smi_log;
  if (!log || typeof log !== 'object') throw new Error('nvidia-smi output has no <nvidia_smi_log> element');
  const gpus = ((log as Node).gpu as Node[] | undefined) ?? [];
  return gpus.map((g, position) => toGpuInfo(g, position));
}

function toGpuInfo(g: Node, position: number): GpuInfo {
  const minor = num(g.minor_number);
  const uuid = text(g.uuid);
  if (!uuid) throw new Error(`GPU at position ${position} has no <uuid>`);
  const fb = (g.fb_memory_usage ?? {}) as Node;
  const util = (g.utilization ?? {}) as Node;
  const temp = (g.temperature ?? {}) as Node;
  const ecc = (g.ecc_errors ?? {}) as Node;
  const volatile = uncorrectable(ecc.volatile);
  const aggregate = uncorrectable(ecc.aggregate);
  const rows = (g.remapped_rows ?? {}) as Node;
  const info: GpuInfo = {
    index: minor ?? position,
    uuid,
    name: text(g.product_name) ?? 'unknown',
    memory_total_mb: num(fb.total) ?? 0,
    healthy: true,
  };
  setIf(info, 'memory_used_mb', num(fb.used));
  setIf(info, 'utilization_pct', num(util.gpu_util));
  setIf(info, 'temperature_c', num(temp.gpu_temp));
  if (volatile !== undefined || aggregate !== undefined) info.ecc_uncorrectable = volatile ?? aggregate ?? 0;
  const reasons: string[] = [];
  if (volatile !== undefined && volatile > 0) {
    reasons.push(`${volatile} uncorrectable ECC error(s) since the driver loaded (aggregate ${aggregate ?? 'n/a'})`);
  }
  if (/^yes$/i.test(text(rows.remapped_row_failure) ?? '')) reasons.push('row remapping failed');
  if (/^yes$/i.test(text(rows.remapped_row_pending) ?? '')) reasons.push('row remapping pending a GPU reset');
  if (reasons.length > 0) {
    info.healthy = false;
    info.unhealthy_reason = reasons.join('; ');
  }
  return info;
}

/** Sum of uncorrectable counters in a <volatile>/<aggregate> block; undefined when all are N/A. */
function uncorrectable(block: unknown): number | undefined {
  if (!block || typeof block !== 'object') return undefined;
  let total: number | undefined;
  const add = (v: unknown) => {
    const n = num(v);
    if (n !== undefined) total = (total ?? 0) + n;
  };
  for (const [key, value] of Object.entries(block as Node)) {
    if (key === 'double_bit' && value && typeof value === 'object') add((value as Node).total);
    else if (/uncorrectable/.test(key)) add(value);
  }
  return total;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() || undefined;
  if (typeof v === 'number') return String(v);
  if (v && typeof v === 'object' && '#text' in v) return text((v as Node)['#text']);
  return undefined;
}

/** "81559 MiB" → 81559, "87 %" → 87, "N/A" → undefined. */
function num(v: unknown): number | undefined {
  const t = text(v);
  if (t === undefined) return undefined;
  const m = /^-?\d+(\.\d+)?/.exec(t);
  return m ? Number(m[0]) : undefined;
}

function setIf<K extends keyof GpuInfo>(o: GpuInfo, key: K, v: GpuInfo[K] | undefined): void {
  if (v !== undefined) o[key] = v;
}
