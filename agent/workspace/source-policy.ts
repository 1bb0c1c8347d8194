/**
 * Which dataset sources the agent may fetch from. Link-local and cloud metadata addresses are
 * refused always (a task must not read the host's cloud credentials); loopback and private ones
 * unless the agent runs with --allow-private-sources. The check runs on every resolved address,
 * both up front (clear error) and in the connection's own DNS lookup (no rebinding in between).
 */
import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns';
import { promises as dns } from 'node:dns';
import { TaskFailure } from '../../shared/errors.js';

const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data', 'instance-data.ec2.internal']);

const alwaysBlocked = new BlockList();
alwaysBlocked.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local, incl. 169.254.169.254 metadata
alwaysBlocked.addSubnet('fe80::', 10, 'ipv6');
alwaysBlocked.addAddress('fd00:ec2::254', 'ipv6'); // AWS IMDS over IPv6
alwaysBlocked.addSubnet('0.0.0.0', 8, 'ipv4'); // "this network": connects to the host itself
alwaysBlocked.addAddress('::', 'ipv6');

const privateBlocked = new BlockList();
privateBlocked.addSubnet('127.0.0.0', 8, 'ipv4');
privateBlocked.addSubnet('10.0.0.0', 8, 'ipv4');
privateBlocked.addSubnet('172.16.0.0', 12, 'ipv4');
privateBlocked.addSubnet('192.168.0.0', 16, 'ipv4');
privateBlocked.addSubnet('100.64.0.0', 10, 'ipv4'); // carrier-grade NAT
privateBlocked.addAddress('::1', 'ipv6');
privateBlocked.addSubnet('fc00::', 7, 'ipv6');

/** Why connecting to `address` is refused, or undefined when it is allowed. */
export function addressProblem(address: string, allowPrivate: boolean): string | undefined {
  let ip = address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) ip = mapped[1];
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  if (isIP(ip) === 0) return `${address} is not an IP address`;
  if (alwaysBlocked.check(ip, family)) return `${address} is a link-local or cloud metadata address`;
  if (!allowPrivate && privateBlocked.check(ip, family)) return `${address} is a loopback/private address (allowed only with --allow-private-sources)`;
  return undefined;
}

/** Throws TaskFailure('infrastructure') naming the reason when `url` may not be fetched. */
export async function checkSourceAllowed(url: string, opts: { allowPrivate?: boolean; what?: string } = {}): Promise<void> {
  const what = opts.what ?? 'source';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TaskFailure('infrastructure', `${what} ${url} is not a valid URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TaskFailure('infrastructure', `${what} ${url}: only http and https sources are allowed`);
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  if (METADATA_HOSTS.has(host)) throw new TaskFailure('infrastructure', `${what} ${url}: ${host} is a cloud metadata host`);
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch (err) {
      throw new TaskFailure('infrastructure', `${what} ${url}: cannot resolve ${host} (${(err as Error).message})`);
    }
  }
  for (const a of addresses) {
    const problem = addressProblem(a, opts.allowPrivate ?? false);
    if (problem) throw new TaskFailure('infrastructure', `${what} ${url} refused: ${problem}`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | { address: string; family: number }[], family?: number) => void;

/** A dns.lookup replacement for sockets that refuses addresses the policy forbids. */
export function policyLookup(allowPrivate: boolean) {
  return (hostname: string, options: object, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as unknown as { address: string; family: number }[];
      for (const a of list) {
        const problem = addressProblem(a.address, allowPrivate);
        if (problem) return callback(Object.assign(new Error(`refused: ${problem}`), { code: 'EACCES' }), '');
      }
      if ((options as { all?: boolean }).all) return callback(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      callback(null, first.address, first.family);
    });
  };
}
