/**
 * IP addresses and CIDR ranges as people write them (key allow-lists, the trusted proxies of
 * SHAHN_TRUST_PROXY): parsed strictly, normalised to one spelling, and matched against the address
 * a connection or a trusted proxy reports.
 *
 * - IPv4: four decimal octets 0-255 without leading zeros (`010.0.0.1` is refused: some parsers
 *   read it as octal).
 * - IPv6: any valid spelling, normalised to its canonical compressed lower-case form; a zone index
 *   (`fe80::1%eth0`) is refused. An IPv4-mapped address (`::ffff:192.0.2.1`) is its IPv4 address.
 * - CIDR: `address/prefix` (0-32 for IPv4, 0-128 for IPv6); host bits are cleared, so
 *   `198.51.100.7/24` is stored as `198.51.100.0/24`.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface ParsedRange {
  /** The canonical text: an address, or `network/prefix`. */
  text: string;
  family: 'ipv4' | 'ipv6';
  address: string;
  /** Bits of the prefix; 32 or 128 for a single address. */
  prefix: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** `::ffff:a.b.c.d` (or its hex form `::ffff:c000:201`) → `a.b.c.d`; anything else unchanged. */
function unmapIpv4(canonicalV6: string): string | undefined {
  const m = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(canonicalV6);
  if (!m) return undefined;
  if (m[1]) return m[1];
  const hi = parseInt(m[2]!, 16);
  const lo = parseInt(m[3]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** An IPv6 address in canonical form (RFC 5952, as the WHATWG URL serialiser writes it). */
function canonicalV6(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/** One address, normalised; undefined when it is not a valid IPv4 or IPv6 address. */
export function parseIp(input: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  const text = input.trim();
  if (IPV4.test(text)) return { address: text, family: 'ipv4' };
  if (text.includes('%') || !isIPv6(text)) return undefined;
  const v6 = canonicalV6(text.toLowerCase());
  const v4 = unmapIpv4(v6);
  return v4 !== undefined ? { address: v4, family: 'ipv4' } : { address: v6, family: 'ipv6' };
}

function v6Groups(canonical: string): number[] {
  const [head, tail] = canonical.split('::') as [string, string | undefined];
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  if (tail === undefined) return h;
  const t = parse(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

function maskV6(canonical: string, prefix: number): string {
  const groups = v6Groups(canonical).map((g, i) => {
    const bits = Math.max(0, Math.min(16, prefix - i * 16));
    return bits === 16 ? g : bits === 0 ? 0 : g & ((0xffff << (16 - bits)) & 0xffff);
  });
  return canonicalV6(groups.map((g) => g.toString(16)).join(':'));
}

function maskV4(address: string, prefix: number): string {
  const n = address.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const masked = (n & mask) >>> 0;
  return [24, 16, 8, 0].map((s) => (masked >>> s) & 255).join('.');
}

/** An address or a CIDR range, normalised; undefined when it is neither. */
export function parseIpRange(input: string): ParsedRange | undefined {
  const text = input.trim();
  const slash = text.indexOf('/');
  if (slash === -1) {
    const ip = parseIp(text);
    if (!ip) return undefined;
    const prefix = ip.family === 'ipv4' ? 32 : 128;
    return { text: ip.address, family: ip.family, address: ip.address, prefix };
  }
  const addressText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(prefixText)) return undefined;
  let prefix = Number(prefixText);
  const ip = parseIp(addressText);
  if (!ip) return undefined;
  // An IPv4-mapped range (::ffff:0:0/96 and longer) is the IPv4 range it maps.
  const mapped = ip.family === 'ipv4' && !IPV4.test(addressText.trim());
  if (mapped) {
    if (prefix < 96) return undefined;
    prefix -= 96;
  }
  const max = ip.family === 'ipv4' ? 32 : 128;
  if (prefix > max) return undefined;
  const address = ip.family === 'ipv4' ? maskV4(ip.address, prefix) : maskV6(ip.address, prefix);
  return { text: prefix === max ? address : `${address}/${prefix}`, family: ip.family, address, prefix };
}

/** The address a client connected from, as allow-lists compare it (IPv4-mapped IPv6 → IPv4). */
export function normaliseClientIp(ip: string): string {
  if (ip.startsWith('::ffff:') && isIPv4(ip.slice(7))) return ip.slice(7);
  return ip;
}

/** Does `ip` fall within one of `ranges` (canonical texts from parseIpRange)? */
export type IpMatcher = (ip: string) => boolean;

export function makeIpMatcher(ranges: readonly string[]): IpMatcher {
  const list = new BlockList();
  const exact = new Set<string>();
  for (const r of ranges) {
    const parsed = parseIpRange(r);
    if (!parsed) continue; // lists are normalised when written; an unreadable entry matches nothing
    if (parsed.prefix === (parsed.family === 'ipv4' ? 32 : 128)) {
      exact.add(parsed.address);
      list.addAddress(parsed.address, parsed.family);
    } else {
      list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
  }
  return (ip: string) => {
    const plain = normaliseClientIp(ip);
    if (exact.has(plain)) return true;
    // Ranges, and an IPv6 client written otherwise than the canonical form.
    const family = isIPv4(plain) ? 'ipv4' : isIPv6(plain) ? 'ipv6' : undefined;
    return family !== undefined && list.check(plain, family);
  };
}
