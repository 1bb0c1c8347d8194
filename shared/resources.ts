/** Resource arithmetic shared by the scheduler (control) and the slot keeper (agent). */

/**
 * A requested GPU type matches a probed GPU name when every word of the request appears in the
 * name, case-insensitively: "H100" matches "NVIDIA H100 80GB HBM3", "a100 80gb" matches
 * "NVIDIA A100-SXM4-80GB".
 */
export function gpuTypeMatches(requested: string | undefined, probedName: string | undefined): boolean {
  if (!requested) return true;
  if (!probedName) return false;
  const hay = probedName.toLowerCase().replace(/[-_]/g, ' ');
  return requested
    .toLowerCase()
    .replace(/[-_]/g, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => hay.includes(word));
}
