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
