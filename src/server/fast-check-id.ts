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
import { AppError, ErrorEnvelope, ID_PATTERN, Topup } from '@shahn/contract';
import type { Deps } from '../domain/deps.js';
import { presentTopup } from '../domain/present.js';
import { sandboxView } from '../domain/sandbox.js';
import { newRequestId, nowIso } from '../lib/ids.js';
import type { OrderRecord } from '../store/store.js';
import { errorBody } from './envelope.js';
import { admit, makeAnswer, type Admitted, type FastPathOptions } from './fast-path.js';

const PREFIX = '/v3/mobile/check-id/';
/** The fastify route this path answers for (the request histogram's label). */
const ROUTE = '/v3/mobile/check-id/:id';
const ID = new RegExp(ID_PATTERN);

const HEAD = Buffer.from('{"success":true,"data":', 'latin1');
/**
 * The success envelope around an order's serialized JSON, in the schema's key order (Success(Topup):
 * success, data, meta, requestId), so that a kept order is not serialized again. It is put together
 * as bytes: the order's JSON is kept encoded, and the rest is ASCII (the request id and the timestamp
 * are this process's own: hex, digits and punctuation). A string made by joining the pieces would be
 * a tree of fragments that node has to flatten and encode for every answer.
 */
function envelope(data: Buffer, requestId: string): Buffer {
  const tail = `,"meta":{"timestamp":"${nowIso()}"},"requestId":"${requestId}"}`;
  const out = Buffer.allocUnsafe(HEAD.length + data.length + tail.length);
  out.set(HEAD, 0);
  out.set(data, HEAD.length);
  out.write(tail, HEAD.length + data.length, 'latin1');
  return out;
}

/**
 * FULFILLED production orders, as presented and serialized (the envelope's `data`), by id: a check-id
 * of one is answered without reading the store or serializing the order again. Safe across processes
 * because such an order never changes again: FULFILLED is final (the lifecycle trigger refuses any
 * status change from it), its presentation does not depend on the clock (only sandbox orders' does),
 * and the only later write to an order's other columns,
 * retry_orderid, is for REFUNDED and sandbox orders (a resend). UNKNOWN_ERROR and REFUNDED orders are
 * not cached: support resolution, a late gateway answer and a resend change them. Orders are never
 * deleted. Bounded (SHAHN_CHECK_ID_CACHE entries, 0 = off): the oldest entry goes first.
 */
class FulfilledOrders {
  private readonly entries = new Map<string, { merchantId: string; json: Buffer }>();
  constructor(private readonly max: number) {}
  get(id: string, merchantId: string): Buffer | undefined {
    const e = this.entries.get(id);
    return e !== undefined && e.merchantId === merchantId ? e.json : undefined;
  }
  put(id: string, merchantId: string, json: Buffer): void {
    if (this.max === 0 || this.entries.has(id)) return;
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(id, { merchantId, json });
  }
}

export function makeFastCheckId(deps: Deps, options: FastPathOptions) {
  const topupJson = fastJsonStringify(Topup as object);
  const failure = fastJsonStringify(ErrorEnvelope as object);

  const write = makeAnswer(options, ROUTE, 'GET');

  /** `offset`: the merchant's sandbox clock offset for a sandbox order (domain/sandbox-clock.ts), else 0. */
  const answer = (req: IncomingMessage, res: ServerResponse, requestId: string, id: string, order: OrderRecord | undefined, offset: number, at: Admitted) => {
    if (!order) {
      const err = new AppError('NOT_FOUND', `Top-up with id '${id}' not found`);
      write(req, res, err.status, requestId, failure(errorBody(requestId, err)), at);
      return;
    }
    const json = presentJson(order, deps.clock.now() + offset);
    if (order.env === 'PRODUCTION' && order.status === 'FULFILLED') fulfilled.put(order.id, order.merchantId, json);
    write(req, res, 200, requestId, envelope(json, requestId), at);
  };

  const fulfilled = new FulfilledOrders(deps.config.checkIdCacheSize);
  const reads = deps.store.orders.syncReads;

  /**
   * An order's JSON, kept beside the record it was made from while that record is the store's cached
   * one (SQLite's order cache hands out the same frozen record until the order changes). A record's
   * presentation depends on nothing but the record and, for a sandbox order, the status and message
   * the sandbox derives from the time (domain/sandbox.ts), so the JSON is kept with that view and
   * made again when the view moves on.
   */
  const jsonOf = new WeakMap<OrderRecord, { status: string; refund: string | null; json: Buffer }>();
  const presentJson = (order: OrderRecord, now: number): Buffer => {
    let status: string = order.status;
    let refund = order.refundMessage;
    if (order.env === 'SANDBOX') {
      const view = sandboxView(order, now, deps.config.sandbox);
      status = view.status;
      refund = view.refundMessage;
    }
    const kept = jsonOf.get(order);
    if (kept !== undefined && kept.status === status && kept.refund === refund) return kept.json;
    const json = Buffer.from(topupJson(presentTopup(order, now, deps.config.sandbox)), 'utf8');
    if (reads) jsonOf.set(order, { status, refund, json });
    return json;
  };

  const stats = { answered: 0 };
  /** A store error: the token goes back and the fastify route answers it (503 or 500), as it does every other error. */
  const fallBack = (keyId: string) => {
    stats.answered--;
    deps.limiter.untake(keyId);
  };
  /** true when this handler took the request; false to let fastify have it. `next` hands it to fastify later. */
  const handle = (req: IncomingMessage, res: ServerResponse, next: () => void): boolean => {
    const url = req.url;
    if (req.method !== 'GET' || url === undefined || !url.startsWith(PREFIX)) return false;
    const id = url.slice(PREFIX.length);
    if (!ID.test(id) || options.isClosing()) return false;
    const at = admit(deps, options, req, 'read');
    if (!at) return false;
    const { key } = at;
    stats.answered++;
    // A GET has no body to wait for: consume the request now, as a plain node:http server does, instead
    // of leaving node to drain it after the answer (a chain of listeners and ticks per request).
    req.resume();
    const requestId = newRequestId();
    const cached = key.type === 'PRODUCTION' ? fulfilled.get(id, key.merchantId) : undefined;
    if (cached) {
      write(req, res, 200, requestId, envelope(cached, requestId), at);
      return true;
    }
    if (reads) {
      // SQLite: read synchronously (no promise per request).
      let order: OrderRecord | undefined;
      try {
        order = reads.findOrderById(key.merchantId, key.type, id);
      } catch {
        fallBack(key.id);
        return false;
      }
      let offset = 0;
      if (key.type === 'SANDBOX' && order) {
        try {
          offset = reads.sandboxOffset(key.merchantId);
        } catch {
          fallBack(key.id);
          return false;
        }
      }
      answer(req, res, requestId, id, order, offset, at);
      return true;
    }
    Promise.all([deps.store.orders.findOrderById(key.merchantId, key.type, id), key.type === 'SANDBOX' ? deps.store.sandboxClocks.offset(key.merchantId) : 0]).then(
      ([order, offset]) => answer(req, res, requestId, id, order, offset, at),
      () => {
        fallBack(key.id);
        if (!res.destroyed) next();
      },
    );
    return true;
  };
  return Object.assign(handle, { stats });
}
