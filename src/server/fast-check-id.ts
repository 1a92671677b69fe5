/**
 * The hot path: merchants poll `GET /v3/mobile/check-id/{id}` every few seconds for every open order.
 * This handler answers the common case (a well-formed id, a cached and usable key, within the rate
 * limit) straight from the node:http request, with the same bytes fastify would send: the same
 * envelope, serializer schema, status, headers, requestId, not-found answer and access-log line.
 * Everything else (a key not in the cache, a blocked IP, an allow-list miss, a rate-limited key, a
 * query string, a store error, shutting down) falls through to the fastify route, which owns every
 * error. test/fast-path.test.ts compares both paths byte for byte.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import fastJsonStringify from 'fast-json-stringify';
import { AppError, ErrorEnvelope, Success, Topup } from '@shahn/contract';
import { ipAllowed } from '../domain/authenticate-key.js';
import type { Deps } from '../domain/deps.js';
import { presentTopup } from '../domain/present.js';
import { newRequestId, nowIso } from '../lib/ids.js';
import type { Log } from '../lib/log.js';
import { errorBody } from './envelope.js';

const PREFIX = '/v3/mobile/check-id/';
const ID = /^[0-9a-f]{24}$/;

export interface FastPathOptions {
  isClosing(): boolean;
  accessLog: Pick<Log, 'info'> | undefined;
}

export function makeFastCheckId(deps: Deps, options: FastPathOptions) {
  const ok = fastJsonStringify(Success(Topup) as object);
  const failure = fastJsonStringify(ErrorEnvelope as object);

  const write = (req: IncomingMessage, res: ServerResponse, status: number, requestId: string, body: string, started: bigint | undefined) => {
    res.writeHead(status, {
      'x-request-id': requestId,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
    if (options.accessLog && started !== undefined) {
      options.accessLog.info(
        { requestId, method: 'GET', url: req.url, status, ms: Math.round(Number(process.hrtime.bigint() - started) / 10_000) / 100 },
        'request completed',
      );
    }
  };

  const stats = { answered: 0 };
  /** true when this handler took the request; false to let fastify have it. `next` hands it to fastify later. */
  const handle = (req: IncomingMessage, res: ServerResponse, next: () => void): boolean => {
    const url = req.url;
    if (req.method !== 'GET' || url === undefined || !url.startsWith(PREFIX)) return false;
    const id = url.slice(PREFIX.length);
    if (!ID.test(id) || options.isClosing()) return false;
    const presented = req.headers['x-access-token'];
    if (typeof presented !== 'string' || presented === '') return false;
    const key = deps.keys.peek(presented);
    const ip = req.socket.remoteAddress ?? '';
    if (!key || !key.isEnabled || deps.bruteForce.blockedFor(ip) > 0) return false;
    if (key.allowedIps.length > 0 && !ipAllowed(key.allowedIps, ip)) return false;
    if (deps.limiter.enabled && deps.limiter.wouldLimit(key.id)) return false;
    const started = options.accessLog ? process.hrtime.bigint() : undefined;
    deps.limiter.take(key.id);
    stats.answered++;
    const requestId = newRequestId();
    deps.store.findOrderById(key.merchantId, key.type, id).then(
      (order) => {
        if (!order) {
          const err = new AppError('NOT_FOUND', `Top-up with id '${id}' not found`);
          write(req, res, err.status, requestId, failure(errorBody(requestId, err)), started);
          return;
        }
        const data = presentTopup(order, deps.clock.now(), deps.config.sandboxUnknownResolveMs);
        write(req, res, 200, requestId, ok({ success: true, data, meta: { timestamp: nowIso() }, requestId }), started);
      },
      () => {
        // A store error: the fastify route answers it (503 or 500), as it does every other error.
        stats.answered--;
        if (!res.destroyed) next();
      },
    );
    return true;
  };
  return Object.assign(handle, { stats });
}
