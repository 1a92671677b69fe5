/**
 * Who the client is. One rule for every path that needs it (fastify's `request.ip`, the check-id
 * hot path, the brute-force guards, allow-lists, access lines), from SHAHN_TRUST_PROXY:
 *
 * - off: the connection's peer address; X-Forwarded-For is ignored.
 * - `hops` N: the client is the address the outermost of N proxies appended to X-Forwarded-For:
 *   walking from the peer address leftwards, the first N addresses are proxies. Whatever a client
 *   writes into the header itself sits further left and is never read.
 * - `addresses`: walking leftwards, every address in the list is a proxy; the first one that is not
 *   is the client.
 *
 * proxy-addr (the library fastify itself uses) does the walk; fastify receives the same trust
 * function, so both paths resolve the same address.
 */
import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { TrustProxy } from '../config.js';

export type TrustFunction = (address: string, hop: number) => boolean;

/** The trust function for fastify's `trustProxy` option; undefined when no proxy is trusted. */
export function trustFunction(trust: TrustProxy): TrustFunction | undefined {
  if (trust === false) return undefined;
  if ('hops' in trust) {
    const hops = trust.hops;
    return (_address, hop) => hop < hops;
  }
  return proxyAddr.compile([...trust.addresses]);
}

/** The client address of a raw request, by the configured rule. */
export function makeClientIp(trust: TrustProxy): (req: IncomingMessage) => string {
  const fn = trustFunction(trust);
  if (!fn) return (req) => req.socket.remoteAddress ?? '';
  return (req) => proxyAddr(req, fn);
}
