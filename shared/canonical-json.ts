import { createHash } from 'node:crypto';
import canonicalizeImport from 'canonicalize';

// canonicalize ships CJS with a default export; under NodeNext its type is the module namespace.
const canonicalizeFn = canonicalizeImport as unknown as (input: unknown) => string | undefined;

/** RFC 8785 (JSON Canonicalization Scheme) serialisation. */
export function canonicalJson(value: unknown): string {
  const out = canonicalizeFn(value);
  if (out === undefined) throw new TypeError('value cannot be canonicalised');
  return out;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export const SHA256_HEX = /^[0-9a-f]{64}$/;
