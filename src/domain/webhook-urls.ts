/**
 * Where a webhook may be sent: https, or http to a private or loopback address only when
 * SHAHN_WEBHOOK_ALLOW_PRIVATE is set; never to a private, loopback or link-local address otherwise,
 * whether the URL names it or its host name resolves to it (checked when the endpoint is made, and
 * again at every delivery on the address connected to).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** Loopback, private (RFC 1918, unique local), link-local, unspecified, CGNAT, and IPv4-mapped forms of them. */
export function isPrivateAddress(address: string): boolean {
  const a = address.toLowerCase();
  if (a.startsWith('::ffff:')) {
    // An IPv4-mapped address, dotted (::ffff:127.0.0.1) or as two hex groups (::ffff:7f00:1).
    const rest = a.slice(7);
    const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(rest);
    if (!hex) return isPrivateAddress(rest);
    const hi = parseInt(hex[1]!, 16);
    const lo = parseInt(hex[2]!, 16);
    return isPrivateAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  if (isIP(a) === 4) {
    const [x, y] = a.split('.').map(Number) as [number, number];
    return x === 10 || x === 127 || x === 0 || (x === 169 && y === 254) || (x === 172 && y >= 16 && y <= 31) || (x === 192 && y === 168) || (x === 100 && y >= 64 && y <= 127);
  }
  if (isIP(a) === 6) {
    return a === '::1' || a === '::' || a.startsWith('fe8') || a.startsWith('fe9') || a.startsWith('fea') || a.startsWith('feb') || a.startsWith('fc') || a.startsWith('fd');
  }
  return false;
}

/** Why a URL may not receive webhooks, or undefined when it may. */
export async function refuseWebhookUrl(raw: string, allowPrivate: boolean): Promise<string | undefined> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL (https://…)';
  }
  if (raw.length > 2048) return 'must be at most 2048 characters';
  if (url.username || url.password) return 'must not hold credentials';
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https:// URL';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true })).map((r) => r.address);
    } catch {
      return `names a host that does not resolve (${host})`;
    }
  }
  const privateTarget = addresses.some(isPrivateAddress);
  if (privateTarget && !allowPrivate) return `points to a private, loopback or link-local address (${addresses.find(isPrivateAddress)}); refused`;
  if (url.protocol === 'http:' && !(privateTarget && allowPrivate)) return 'must be an https:// URL (http:// only to a private address with SHAHN_WEBHOOK_ALLOW_PRIVATE=true)';
  return undefined;
}
