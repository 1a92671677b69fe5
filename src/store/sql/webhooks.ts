/**
 * Merchants' webhook endpoints and the events of their orders. `emitOrderEvent` runs inside the
 * transaction that changes an order's status: the event (the order as it is now, its next sequence)
 * and one outbox message per endpoint that takes it are written with the change, or not at all.
 */
import { offsetForScheduling } from './sandbox-clocks.js';
import { newObjectId } from '../../lib/ids.js';
import { toOrder, toOutbox, type OrderRow, type OutboxRow } from '../rows.js';
import { all, changed, one, run, type Op, type SqlDb } from '../sql.js';
import { WEBHOOK_EVENT_OF_STATUS, type Env, type OrderRecord, type OutboxMessage, type WebhookEndpointRecord, type WebhookEventRecord, type WebhookEventType, type WebhookStore } from '../store.js';
import { insertAudit, insertOutbox, page } from './common.js';

/** The merchant's live endpoints in one environment, each with the event types it takes (empty: every type). */
function* liveEndpoints(merchantId: string, env: string): Op<{ id: string; takes(type: WebhookEventType): boolean }[]> {
  const rows = yield* all<{ id: string; events: string }>(
    'SELECT id, events FROM webhook_endpoints WHERE merchant_id = $1 AND env = $2 AND deleted_at IS NULL AND disabled_at IS NULL',
    [merchantId, env],
  );
  return rows.map((r) => {
    const events = JSON.parse(r.events) as WebhookEventType[];
    return { id: r.id, takes: (type: WebhookEventType) => events.length === 0 || events.includes(type) };
  });
}

/** An event, and its message for each endpoint that takes it, due at `dueAt`. */
function* insertEvent(e: { id: string; merchantId: string; env: string; orderId: string; type: WebhookEventType; sequence: number; resolvedBy: string | null; snapshot: string; createdAt: number }, endpoints: readonly string[], dueAt: number, now: number): Op<void> {
  yield* run('INSERT INTO webhook_events (id, merchant_id, env, order_id, type, sequence, resolved_by, snapshot, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)', [
    e.id, e.merchantId, e.env, e.orderId, e.type, e.sequence, e.resolvedBy, e.snapshot, e.createdAt,
  ]);
  for (const endpointId of endpoints) {
    yield* insertOutbox({ id: newObjectId(now), kind: 'webhook', topic: e.type, subject: endpointId, payload: { eventId: e.id }, createdAt: now, attempts: 0, nextAttemptAt: dueAt, deliveredAt: null, lastError: null });
  }
}

interface EndpointRow {
  id: string;
  merchant_id: string;
  env: Env;
  url: string;
  events: string;
  description: string | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: number | string | null;
  created_at: number | string;
  disabled_at: number | string | null;
  disabled_reason: string | null;
  failing_since: number | string | null;
}

interface EventRow {
  id: string;
  merchant_id: string;
  env: Env;
  order_id: string;
  type: WebhookEventType;
  sequence: number | string;
  resolved_by: string | null;
  snapshot: string;
  created_at: number | string;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

function toEndpoint(r: EndpointRow): WebhookEndpointRecord {
  return {
    id: r.id,
    merchantId: r.merchant_id,
    env: r.env,
    url: r.url,
    events: JSON.parse(r.events) as WebhookEventType[],
    description: r.description,
    secret: r.secret,
    previousSecret: r.previous_secret,
    previousSecretUntil: num(r.previous_secret_until),
    createdAt: Number(r.created_at),
    disabledAt: num(r.disabled_at),
    disabledReason: r.disabled_reason,
    failingSince: num(r.failing_since),
  };
}

function toEvent(r: EventRow): WebhookEventRecord {
  return {
    id: r.id,
    merchantId: r.merchant_id,
    env: r.env,
    orderId: r.order_id,
    type: r.type,
    sequence: Number(r.sequence),
    resolvedBy: r.resolved_by,
    snapshot: r.snapshot === 'null' ? null : (JSON.parse(r.snapshot) as OrderRecord),
    createdAt: Number(r.created_at),
  };
}

/** Write an event about an order that just changed, for every endpoint of its merchant that takes it (none: nothing). */
export function* emitOrderEvent(orderId: string, now: number, resolvedBy: 'support' | null = null): Op<void> {
  const row = yield* one<OrderRow>('SELECT * FROM orders WHERE id = $1', [orderId]);
  const type = row && WEBHOOK_EVENT_OF_STATUS[row.status];
  if (!row || !type) return;
  const endpoints = (yield* liveEndpoints(row.merchant_id, row.env)).filter((e) => e.takes(type)).map((e) => e.id);
  if (endpoints.length === 0) return;
  yield* changed(orderId);
  const seq = Number((yield* one<{ event_sequence: number | string }>('UPDATE orders SET event_sequence = event_sequence + 1 WHERE id = $1 RETURNING event_sequence', [orderId]))!.event_sequence);
  const event = { id: `evt_${newObjectId(now)}`, merchantId: row.merchant_id, env: row.env, orderId, type, sequence: seq, resolvedBy, snapshot: JSON.stringify(toOrder(row)), createdAt: now };
  yield* insertEvent(event, endpoints, now, now);
}

/**
 * A sandbox order's events, written with the order: the moments of its timeline (HANDLING, its final
 * status, a later resolution) as events dated then, and their messages due then, for the merchant's
 * sandbox endpoints that take them (none: nothing).
 */
export function* scheduleOrderEvents(order: OrderRecord, scheduled: readonly { at: number; type: WebhookEventType }[]): Op<void> {
  const endpoints = yield* liveEndpoints(order.merchantId, order.env);
  if (endpoints.length === 0) return;
  yield* changed(order.id);
  yield* run('UPDATE orders SET event_sequence = $1 WHERE id = $2', [scheduled.length, order.id]);
  const snapshot = JSON.stringify(order);
  // A sandbox order's moments are on its merchant's sandbox clock: each message is due when that clock
  // reaches its moment, read in this transaction (an advance moves the messages already written).
  const offset = order.env === 'SANDBOX' ? yield* offsetForScheduling(order.merchantId) : 0;
  for (const [i, s] of scheduled.entries()) {
    const event = { id: `evt_${newObjectId(order.createdAt)}`, merchantId: order.merchantId, env: order.env, orderId: order.id, type: s.type, sequence: i + 1, resolvedBy: null, snapshot, createdAt: s.at };
    yield* insertEvent(event, endpoints.filter((e) => e.takes(s.type)).map((e) => e.id), s.at - offset, order.createdAt - offset);
  }
}

/**
 * Each endpoint with undelivered messages and when its oldest is due: a skip scan over the index
 * outbox_webhook_pending (one seek per endpoint, whatever the depth of its backlog).
 */
const ENDPOINTS_WITH_PENDING = `
WITH RECURSIVE pending(subject) AS (
  SELECT MIN(subject) FROM outbox WHERE kind = 'webhook' AND delivered_at IS NULL
  UNION ALL
  SELECT (SELECT MIN(o.subject) FROM outbox o WHERE o.kind = 'webhook' AND o.delivered_at IS NULL AND o.subject > pending.subject)
  FROM pending WHERE pending.subject IS NOT NULL
)
SELECT subject, (SELECT MIN(o.next_attempt_at) FROM outbox o WHERE o.kind = 'webhook' AND o.delivered_at IS NULL AND o.subject = pending.subject) AS due
FROM pending WHERE subject IS NOT NULL`;

export function makeWebhookStore(db: SqlDb): WebhookStore {
  return {
    createEndpoint: (e) =>
      db.exec(run(
        `INSERT INTO webhook_endpoints (id, merchant_id, env, url, events, description, secret, previous_secret, previous_secret_until, created_at, disabled_at, disabled_reason, failing_since)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [e.id, e.merchantId, e.env, e.url, JSON.stringify(e.events), e.description, e.secret, e.previousSecret, e.previousSecretUntil, e.createdAt, e.disabledAt, e.disabledReason, e.failingSince],
      )).then(() => undefined),

    listEndpoints: async (merchantId, env) =>
      (await db.exec(all<EndpointRow>('SELECT * FROM webhook_endpoints WHERE merchant_id = $1 AND env = $2 AND deleted_at IS NULL ORDER BY created_at, id', [merchantId, env]))).map(toEndpoint),

    getEndpoint: async (id) => {
      const r = await db.exec(one<EndpointRow>('SELECT * FROM webhook_endpoints WHERE id = $1 AND deleted_at IS NULL', [id]));
      return r && toEndpoint(r);
    },

    deleteEndpoint: (id, merchantId, env, now) =>
      db.transaction(function* () {
        const n = yield* run('UPDATE webhook_endpoints SET deleted_at = $1 WHERE id = $2 AND merchant_id = $3 AND env = $4 AND deleted_at IS NULL', [now, id, merchantId, env]);
        if (n === 0) return false;
        yield* run(`DELETE FROM outbox WHERE kind = 'webhook' AND subject = $1 AND delivered_at IS NULL`, [id]);
        return true;
      }),

    rotateSecret: (id, secret, previousUntil) =>
      db.exec(run('UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $1, secret = $2 WHERE id = $3', [previousUntil, secret, id])).then(() => undefined),

    disableEndpoint: (id, now, reason, alert, audit) =>
      db.transaction(function* () {
        const n = yield* run('UPDATE webhook_endpoints SET disabled_at = $1, disabled_reason = $2 WHERE id = $3 AND disabled_at IS NULL', [now, reason, id]);
        if (n === 0) return false;
        yield* insertOutbox(alert);
        yield* insertAudit(audit);
        return true;
      }),

    setFailingSince: (id, since) => db.exec(run('UPDATE webhook_endpoints SET failing_since = $1 WHERE id = $2', [since, id])).then(() => undefined),

    getEvent: async (id) => {
      const r = await db.exec(one<EventRow>('SELECT * FROM webhook_events WHERE id = $1', [id]));
      return r && toEvent(r);
    },

    listDeliveries: (endpointId, req) =>
      db.exec(page('outbox', `kind = 'webhook' AND subject = $1`, [endpointId], 'created_at', 'created_at DESC, id DESC', req, (r: OutboxRow) => toOutbox(r))),

    replay: (endpoint, from, to, now, limit) =>
      db.transaction(function* () {
        const events = yield* all<{ id: string; type: string }>(
          `SELECT id, type FROM webhook_events WHERE merchant_id = $1 AND env = $2 AND created_at >= $3 AND created_at <= $4 AND type <> 'ping' ORDER BY created_at, id LIMIT $5`,
          [endpoint.merchantId, endpoint.env, from, to, limit],
        );
        let n = 0;
        for (const e of events) {
          if (endpoint.events.length > 0 && !endpoint.events.includes(e.type as WebhookEventType)) continue;
          yield* insertOutbox({ id: newObjectId(now), kind: 'webhook', topic: e.type, subject: endpoint.id, payload: { eventId: e.id, replay: true }, createdAt: now, attempts: 0, nextAttemptAt: now, deliveredAt: null, lastError: null });
          n++;
        }
        return n;
      }),

    finishAttempt: (messageId, a, next) =>
      db.transaction(function* () {
        yield* run(
          'INSERT INTO webhook_attempts (message_id, attempt, at, duration_ms, status, response, error) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (message_id, attempt) DO NOTHING',
          [messageId, a.attempt, a.at, a.durationMs, a.status, a.response, a.error],
        );
        // A delivered message keeps the status its endpoint answered (last_error holds the last attempt's {status, error}).
        if ('deliveredAt' in next) yield* run('UPDATE outbox SET delivered_at = $1, attempts = attempts + 1, last_error = $2 WHERE id = $3', [next.deliveredAt, JSON.stringify({ status: a.status }), messageId]);
        else yield* run('UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3', [next.nextAttemptAt, next.lastError.slice(0, 500), messageId]);
      }),

    claimWebhooks: async (now, limit, leaseMs, free) => {
      const pending = await db.exec(all<{ subject: string; due: number | string }>(ENDPOINTS_WITH_PENDING, []));
      const ready = pending.filter((p) => Number(p.due) <= now).sort((a, b) => Number(a.due) - Number(b.due));
      const claimed: OutboxMessage[] = [];
      for (const p of ready) {
        const n = Math.min(free(p.subject), limit - claimed.length);
        if (n <= 0) continue;
        const rows = await db.exec(all<OutboxRow>(
          `UPDATE outbox SET next_attempt_at = $1 WHERE id IN
             (SELECT id FROM outbox WHERE kind = 'webhook' AND delivered_at IS NULL AND subject = $2 AND next_attempt_at <= $3 ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)
           RETURNING *`,
          [now + leaseMs, p.subject, now, n],
        ));
        claimed.push(...rows.map(toOutbox));
        if (claimed.length >= limit) break;
      }
      return claimed;
    },

    getDelivery: async (endpointId, messageId) => {
      const r = await db.exec(one<OutboxRow>(`SELECT * FROM outbox WHERE id = $1 AND kind = 'webhook' AND subject = $2`, [messageId, endpointId]));
      return r && toOutbox(r);
    },

    listAttempts: async (messageId) =>
      (await db.exec(all<{ attempt: number | string; at: number | string; duration_ms: number | string; status: number | string | null; response: string | null; error: string | null }>(
        'SELECT attempt, at, duration_ms, status, response, error FROM webhook_attempts WHERE message_id = $1 ORDER BY attempt',
        [messageId],
      ))).map((r) => ({ attempt: Number(r.attempt), at: Number(r.at), durationMs: Number(r.duration_ms), status: num(r.status), response: r.response, error: r.error })),

    enableEndpoint: (id, merchantId, env, audit) =>
      db.transaction(function* () {
        const n = yield* run('UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL WHERE id = $1 AND merchant_id = $2 AND env = $3 AND deleted_at IS NULL AND disabled_at IS NOT NULL', [id, merchantId, env]);
        if (n === 0) return false;
        yield* insertAudit(audit);
        return true;
      }),

    enqueueTest: (endpoint, eventId, now) =>
      db.transaction(() => insertEvent({ id: eventId, merchantId: endpoint.merchantId, env: endpoint.env, orderId: '', type: 'ping', sequence: 0, resolvedBy: null, snapshot: 'null', createdAt: now }, [endpoint.id], now, now)),
  };
}
