import type { LookupAddress, LookupOptions } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * Where a connector may send (issue #16, "Safety"): a webhook URL is chosen
 * by whoever holds the admin token, and a service that POSTs wherever it is
 * told reaches what only it can reach (cloud metadata at 169.254.169.254,
 * the database, an admin port on loopback). Loopback, private, link-local
 * and other non-public ranges are refused unless CONNECTORS_ALLOW_PRIVATE is
 * set. Checked twice: on the URL when the connector is saved, and on every
 * address a host name resolves to when a request connects, so a name that
 * later points inside (DNS rebinding) is refused too.
 */
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const)
  NON_PUBLIC.addSubnet(net, prefix, 'ipv6');

/** True for an address outside the public internet (an IPv4-mapped IPv6 address counts as its IPv4 one). */
export function isNonPublicAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return NON_PUBLIC.check(mapped[1], 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return NON_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Why a target URL is refused, or undefined when it may be used. */
export function targetUrlProblem(text: unknown, allowPrivate: boolean): string | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 2048)
    return 'must be an http:// or https:// URL of at most 2048 characters';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an http:// or https:// URL of at most 2048 characters';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http:// or https://';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials; send them in `headers` instead';
  if (allowPrivate) return undefined;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) !== 0 && isNonPublicAddress(host)))
    return 'points at a loopback or private address (set CONNECTORS_ALLOW_PRIVATE=true to allow it)';
  return undefined;
}

/** The refusal a connection meets when its host resolves to a non-public address. */
export class PrivateAddressError extends Error {
  readonly code = 'ECONNECTOR_PRIVATE';
  constructor(host: string, address: string) {
    super(`${host} resolves to ${address}, a loopback or private address (CONNECTORS_ALLOW_PRIVATE is off)`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that resolves as usual and then refuses
 * non-public addresses: the check happens on the address the socket is
 * about to use, not on a name that may resolve differently later.
 */
export function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const refused = addresses.find((a) => isNonPublicAddress(a.address));
    if (refused) return callback(new PrivateAddressError(hostname, refused.address), []);
    if (options.all) return callback(null, addresses);
    callback(null, addresses[0].address, addresses[0].family);
  });
}
