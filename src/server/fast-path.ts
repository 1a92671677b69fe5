/**
 * What the two hot paths (fast-check-id.ts, fast-send.ts) share: they answer the common case of
 * their route straight from the node:http request, with the bytes fastify would send, and leave
 * everything else to fastify. This module holds the part of fastify's per-request work they do by
 * hand: the admission (the key from the raw headers, the cached key check, the rate limit) and the
 * answer (status, headers, the access line and the request histogram).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { usableCachedKey } from '../domain/authenticate-key.js';
import type { Deps } from '../domain/deps.js';
import type { AccessLine } from '../lib/access-line.js';
import type { Metrics } from '../lib/metrics.js';
import type { KeyRecord } from '../store/store.js';

/**
 * The global (root-level) per-request fastify hooks the hot paths do by hand, in the same order of
 * checks: onRequest (the X-Request-Id header, 503 while shutting down, the key check, the rate limit,
 * the write scope) and onResponse (the access line, when SHAHN_ACCESS_LOG is on; the request
 * histogram, when metrics are served). A global hook added to buildApp must be mirrored here too, or
 * the paths must step aside; test/fast-path.test.ts fails until it is.
 */
export const MIRRORED_GLOBAL_HOOKS: Readonly<Record<string, number>> = Object.freeze({ onRequest: 1, onResponse: 1 });

export interface FastPathOptions {
  isClosing(): boolean;
  /** Writes the access line, when SHAHN_ACCESS_LOG is on (lib/access-line.ts). */
  accessLog: AccessLine | undefined;
  /** The request histogram, when metrics are served: the hot paths count their requests as the fastify routes would. */
  metrics?: Pick<Metrics, 'requestRecorder'> | undefined;
  /** The client address by the configured trust-proxy rule (the one fastify uses too). */
  clientIp(req: IncomingMessage): string;
}

/**
 * A request header's value read from `req.rawHeaders` (`name` in lower case), without making node build
 * `req.headers` for every header of the request; null when the header comes more than once (node
 * would join the values: the caller steps aside and lets fastify read them).
 */
export function rawHeader(raw: readonly string[], name: string): string | undefined | null {
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === name.length && (n === name || n.toLowerCase() === name)) {
      if (found !== undefined) return null;
      found = raw[i + 1];
    }
  }
  return found;
}

/** A request a hot path has taken: its key (a rate-limit token taken), client address and start time. */
export interface Admitted {
  key: KeyRecord;
  ip: string;
  /** process.hrtime.bigint() at admission, when the access line or the histogram needs the duration. */
  started: bigint | undefined;
}

/**
 * fastify's onRequest for an authenticated route, for the case it lets through: the key sent once, in
 * the key cache and usable from the client's address, within its rate limit (a token is taken, as the
 * hook takes one) and, for `write`, not a READ-ONLY key. undefined when the request must go to
 * fastify, which then answers whatever is wrong with its own error (no token is taken then).
 */
export function admit(deps: Pick<Deps, 'keys' | 'bruteForce' | 'limiter'>, options: FastPathOptions, req: IncomingMessage, scope: 'read' | 'write'): Admitted | undefined {
  const presented = rawHeader(req.rawHeaders, 'x-access-token');
  if (typeof presented !== 'string' || presented === '') return undefined;
  const ip = options.clientIp(req);
  const key = usableCachedKey(deps, presented, ip);
  // fastify takes the token before it refuses a READ-ONLY key a write: stepping aside first leaves
  // that token to fastify.
  if (!key || (scope === 'write' && key.scope === 'READ-ONLY') || deps.limiter.take(key.id) > 0) return undefined;
  return { key, ip, started: options.accessLog || options.metrics ? process.hrtime.bigint() : undefined };
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The answer, as fastify sends it for this route: X-Request-Id first, then the error's own headers
 * (Retry-After), the JSON content type and length; then the request histogram and the access line.
 */
export function makeAnswer(options: FastPathOptions, route: string, method: string) {
  const record = options.metrics?.requestRecorder(route, method);
  return (req: IncomingMessage, res: ServerResponse, status: number, requestId: string, body: string | Buffer, at: Admitted, extra?: Readonly<Record<string, string>>) => {
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    res.writeHead(
      status,
      extra === undefined
        ? { 'x-request-id': requestId, 'content-type': JSON_TYPE, 'content-length': length }
        : { 'x-request-id': requestId, ...extra, 'content-type': JSON_TYPE, 'content-length': length },
    );
    res.end(body);
    if (at.started === undefined) return;
    const ns = Number(process.hrtime.bigint() - at.started);
    record?.(status, ns / 1e9);
    if (options.accessLog) options.accessLog(requestId, method, req.url!, status, Math.round(ns / 10_000) / 100, at.ip);
  };
}
