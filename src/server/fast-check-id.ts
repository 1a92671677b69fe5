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
 * An order's presented JSON (the envelope's `data`) with what it was made from, kept by order id.
 *
 * A FULFILLED production order is kept `final` (`order` null): a check-id of it is answered without
 * reading the store or serializing the order again. Safe across processes because such an order
 * never changes again: FULFILLED is final (the lifecycle trigger refuses any status change from it),
 * its presentation does not depend on the clock (only sandbox orders' does), and the only later write
 * to an order's other columns, retry_orderid, is for REFUNDED and sandbox orders (a resend).
 * UNKNOWN_ERROR and REFUNDED orders are not final here: support resolution, a late gateway answer
 * and a resend change them.
 *
 * Any other order is kept with the record its JSON was made from, on SQLite only, whose order cache
 * hands out the same frozen record until the order changes (PostgreSQL reads make a new record every
 * time). Its JSON is used again while the store still hands out that record and, for a sandbox order,
 * while the status and refund message the sandbox derives from the time (domain/sandbox.ts) are the
 * ones it was made with; else it is made again and replaces the entry. One map for both: the
 * open orders merchants poll cost one lookup here and one in the store's cache.
 */
interface Kept {
  readonly merchantId: string;
  /** The record the JSON was made from; null for a final (FULFILLED production) order. */
  readonly order: OrderRecord | null;
  readonly status: string;
  readonly refund: string | null;
  readonly json: Buffer;
}

/** Bounded (SHAHN_CHECK_ID_CACHE entries, 0 = off): the oldest entry goes first. Orders are never deleted. */
class KeptAnswers {
  private readonly entries = new Map<string, Kept>();
  constructor(private readonly max: number) {}
  get(id: string): Kept | undefined {
    return this.entries.get(id);
  }
  put(id: string, kept: Kept): void {
    if (this.max === 0) return;
    if (this.entries.size >= this.max && !this.entries.has(id)) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(id, kept);
  }
}

export function makeFastCheckId(deps: Deps, options: FastPathOptions) {
  const topupJson = fastJsonStringify(Topup as object);
  const failure = fastJsonStringify(ErrorEnvelope as object);

  const write = makeAnswer(options, ROUTE, 'GET');

  const kept = new KeptAnswers(deps.config.checkIdCacheSize);
  const reads = deps.store.orders.syncReads;

  /**
   * The order's JSON: the kept one while it was made from this record and, for a sandbox order, the
   * same view of it at `now`; else made now and kept (see KeptAnswers).
   */
  const presentJson = (order: OrderRecord, now: number, was: Kept | undefined): Buffer => {
    let status: string = order.status;
    let refund = order.refundMessage;
    if (order.env === 'SANDBOX') {
      const view = sandboxView(order, now, deps.config.sandbox);
      status = view.status;
      refund = view.refundMessage;
    }
    if (was !== undefined && was.order === order && was.status === status && was.refund === refund) return was.json;
    const json = Buffer.from(topupJson(presentTopup(order, now, deps.config.sandbox)), 'utf8');
    const final = order.env === 'PRODUCTION' && order.status === 'FULFILLED';
    if (final || reads) kept.put(order.id, { merchantId: order.merchantId, order: final ? null : order, status, refund, json });
    return json;
  };

  /**
   * `offset`: the merchant's sandbox clock offset for a sandbox order (domain/sandbox-clock.ts), else 0;
   * `was`: what is kept for this id.
   */
  const answer = (req: IncomingMessage, res: ServerResponse, requestId: string, id: string, order: OrderRecord | undefined, offset: number, was: Kept | undefined, at: Admitted) => {
    if (!order) {
      const err = new AppError('NOT_FOUND', `Top-up with id '${id}' not found`);
      write(req, res, err.status, requestId, failure(errorBody(requestId, err)), at);
      return;
    }
    write(req, res, 200, requestId, envelope(presentJson(order, deps.clock.now() + offset, was), requestId), at);
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
    const was = kept.get(id);
    if (was !== undefined && was.order === null && key.type === 'PRODUCTION' && was.merchantId === key.merchantId) {
      write(req, res, 200, requestId, envelope(was.json, requestId), at);
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
      answer(req, res, requestId, id, order, offset, was, at);
      return true;
    }
    Promise.all([deps.store.orders.findOrderById(key.merchantId, key.type, id), key.type === 'SANDBOX' ? deps.store.sandboxClocks.offset(key.merchantId) : 0]).then(
      ([order, offset]) => answer(req, res, requestId, id, order, offset, was, at),
      () => {
        fallBack(key.id);
        if (!res.destroyed) next();
      },
    );
    return true;
  };
  return Object.assign(handle, { stats });
}
