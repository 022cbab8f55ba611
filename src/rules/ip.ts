import net from 'node:net';

/** Strips the IPv4-mapped IPv6 prefix so that ::ffff:10.0.0.1 matches a 10.0.0.0/8 rule. */
export function normalizeIp(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return mapped?.[1] ?? ip;
}

/** Validates one allowedIps entry (an IP or a CIDR); returns an error message or null. */
export function allowedIpError(entry: string): string | null {
  const [address = '', prefix, extra] = entry.trim().split('/');
  const version = net.isIP(address);
  if (!version || extra !== undefined) return `"${entry}" is not an IPv4/IPv6 address or CIDR (e.g. 203.0.113.7, 10.0.0.0/8, 2001:db8::/32)`;
  if (prefix !== undefined) {
    const bits = Number(prefix);
    if (!/^\d+$/.test(prefix) || bits > (version === 4 ? 32 : 128)) {
      return `"${entry}" has an invalid prefix length; use /0 to /${version === 4 ? 32 : 128}`;
    }
  }
  return null;
}

/** A BlockList for a key's allowedIps, built once per cached key. */
export function buildIpAllowList(entries: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.trim().split('/');
    const type = net.isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

export function ipAllowed(list: net.BlockList, ip: string): boolean {
  const address = normalizeIp(ip);
  const version = net.isIP(address);
  if (!version) return false;
  return list.check(address, version === 6 ? 'ipv6' : 'ipv4');
}

/**
 * An allowedIps entry as a closed range of the IPv6 address space. IPv4 lives in the
 * IPv4-mapped block ::ffff:0:0/96, the same way the allow list matches a client address,
 * so that 10.0.0.0/8 and ::ffff:10.0.0.0/104 are one range and ::/0 holds every IPv4.
 */
export interface IpRange {
  first: bigint;
  last: bigint;
}

const V4_MAPPED = 0xffffn << 32n;
const ALL_BITS = (1n << 128n) - 1n;

function ipv4ToBigInt(address: string): bigint {
  return address.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

function ipv6ToBigInt(address: string): bigint {
  // A zone (fe80::1%eth0) does not take part in matching; the allow list ignores it too.
  const text = address
    .split('%')[0]!
    .replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_all, a, b, c, d) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`);
  const [head = '', tail] = text.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((group) => BigInt(parseInt(group, 16))));
  const before = groups(head);
  const after = tail === undefined ? [] : groups(tail);
  const zeros = Array<bigint>(8 - before.length - after.length).fill(0n);
  return [...before, ...zeros, ...after].reduce((value, group) => (value << 16n) | group, 0n);
}

/** The range an allowedIps entry admits (an address is a /32 or /128); null when it is not valid. */
export function ipRange(entry: string): IpRange | null {
  if (allowedIpError(entry) !== null) return null;
  const [address = '', prefix] = entry.trim().split('/');
  const v4 = net.isIP(address) === 4;
  const bits = v4 ? 32 : 128;
  const length = prefix === undefined ? bits : Number(prefix);
  const base = v4 ? V4_MAPPED | ipv4ToBigInt(address) : ipv6ToBigInt(address);
  const hostBits = BigInt(bits - length);
  const hostMask = (1n << hostBits) - 1n;
  const first = base & (ALL_BITS ^ hostMask);
  return { first, last: first | hostMask };
}

/**
 * Does the allow list `outer` admit every address that `entry` admits? An empty list admits
 * any address. Entries are merged first, so 10.0.0.0/9 plus 10.128.0.0/9 hold 10.0.0.0/8.
 */
export function ipListContains(outer: readonly string[], entry: string): boolean {
  const inner = ipRange(entry);
  if (!inner) return false;
  if (outer.length === 0) return true;
  const ranges = outer.flatMap((e) => ipRange(e) ?? []).sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  let start: bigint | null = null;
  let end = -1n;
  for (const range of ranges) {
    if (start === null || range.first > end + 1n) {
      if (start !== null && start <= inner.first && inner.last <= end) return true;
      start = range.first;
      end = range.last;
    } else if (range.last > end) {
      end = range.last;
    }
  }
  return start !== null && start <= inner.first && inner.last <= end;
}
