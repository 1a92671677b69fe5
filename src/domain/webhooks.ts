/**
 * A merchant's webhook endpoints, managed with its key (or from the merchant console, for the
 * environment chosen there): an endpoint belongs to the key's merchant and environment (made with a
 * SANDBOX key, it receives sandbox events only). The secret is shown once, when it is made or rotated.
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '@shahn/contract';
import { newObjectId } from '../lib/ids.js';
import type { PageQueryInput } from '@shahn/contract';
import type { KeyRecord, OutboxMessage, WebhookAttemptRecord, WebhookEndpointRecord, WebhookEventRecord, WebhookEventType } from '../store/store.js';
import { auditRecord } from '../support/audit.js';
import { CONTRACT_TIMELINE, type SandboxTimeline } from '../lib/sandbox-timeline.js';
import { presentTopup } from './present.js';
import type { Deps } from './deps.js';
import { toPage, toPageRequest } from './pagination.js';
import { refuseWebhookUrl } from './webhook-urls.js';

export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = ['topup.handling', 'topup.fulfilled', 'topup.refunded', 'topup.unknown_error'];
/** How long the old secret keeps signing after a rotation. */
export const PREVIOUS_SECRET_MS = 24 * 3_600_000;
const MAX_ENDPOINTS = 16;

/** Whose endpoints: a key's merchant and environment (a key's `type`), or the console's merchant and chosen environment. */
export type WebhookOwner = Pick<KeyRecord, 'merchantId' | 'type'>;

export interface EndpointOut {
  id: string;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  createdAt: string;
  disabledAt: string | null;
  disabledReason: string | null;
}

/** The body of an event: `{type, timestamp, data}`, data the check-id object then plus its sequence. */
export function webhookBody(event: WebhookEventRecord, timeline: SandboxTimeline = CONTRACT_TIMELINE): string {
  const data: Record<string, unknown> =
    event.type === 'ping' || !event.snapshot
      ? { message: 'a test event from shahn' }
      : { ...presentTopup(event.snapshot, event.createdAt, timeline), sequence: event.sequence, ...(event.resolvedBy ? { resolved_by: event.resolvedBy } : {}) };
  return JSON.stringify({ type: event.type, timestamp: new Date(event.createdAt).toISOString(), data });
}

function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

function present(e: WebhookEndpointRecord): EndpointOut {
  const iso = (v: number | null) => (v === null ? null : new Date(v).toISOString());
  return { id: e.id, url: e.url, events: e.events, description: e.description, createdAt: new Date(e.createdAt).toISOString(), disabledAt: iso(e.disabledAt), disabledReason: e.disabledReason };
}

const invalid = (field: string, message: string, reason: string) => new AppError('ERR_VALIDATION', `body/${field} ${message}`, { field, reason });

export async function createEndpoint(deps: Deps, key: WebhookOwner, body: { url: string; events?: string[]; description?: string }): Promise<EndpointOut & { secret: string }> {
  const refused = await refuseWebhookUrl(body.url, deps.config.webhookAllowPrivate);
  if (refused) throw invalid('url', refused, 'url_refused');
  const events = [...new Set(body.events ?? [])];
  const unknown = events.filter((t) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length > 0) throw invalid('events', `has unknown event types: ${unknown.join(', ')} (known: ${WEBHOOK_EVENT_TYPES.join(', ')})`, 'unknown_event');
  const existing = await deps.store.webhooks.listEndpoints(key.merchantId, key.type);
  if (existing.length >= MAX_ENDPOINTS) throw invalid('url', `cannot be added: at most ${MAX_ENDPOINTS} endpoints per environment`, 'too_many');
  const now = deps.clock.now();
  const record: WebhookEndpointRecord = {
    id: `we_${newObjectId(now)}`,
    merchantId: key.merchantId,
    env: key.type,
    url: body.url,
    events: events as WebhookEventType[],
    description: body.description ?? null,
    secret: newSecret(),
    previousSecret: null,
    previousSecretUntil: null,
    createdAt: now,
    disabledAt: null,
    disabledReason: null,
    failingSince: null,
  };
  await deps.store.webhooks.createEndpoint(record);
  return { ...present(record), secret: record.secret };
}

export async function listEndpoints(deps: Deps, key: WebhookOwner): Promise<{ items: EndpointOut[] }> {
  return { items: (await deps.store.webhooks.listEndpoints(key.merchantId, key.type)).map(present) };
}

/** The key's own endpoint, or NOT_FOUND (another merchant's, or another environment's, is not found either). */
async function ownEndpoint(deps: Deps, key: WebhookOwner, id: string): Promise<WebhookEndpointRecord> {
  const e = await deps.store.webhooks.getEndpoint(id);
  if (!e || e.merchantId !== key.merchantId || e.env !== key.type) throw new AppError('NOT_FOUND', 'Webhook endpoint not found');
  return e;
}

export async function deleteEndpoint(deps: Deps, key: WebhookOwner, id: string): Promise<{ deleted: true }> {
  await ownEndpoint(deps, key, id);
  if (!(await deps.store.webhooks.deleteEndpoint(id, key.merchantId, key.type, deps.clock.now()))) throw new AppError('NOT_FOUND', 'Webhook endpoint not found');
  return { deleted: true };
}

export async function rotateSecret(deps: Deps, key: WebhookOwner, id: string): Promise<{ id: string; secret: string; previousSecretExpiresAt: string }> {
  await ownEndpoint(deps, key, id);
  const secret = newSecret();
  const until = deps.clock.now() + PREVIOUS_SECRET_MS;
  await deps.store.webhooks.rotateSecret(id, secret, until);
  return { id, secret, previousSecretExpiresAt: new Date(until).toISOString() };
}

export async function sendTestEvent(deps: Deps, key: WebhookOwner, id: string): Promise<{ eventId: string }> {
  const e = await ownEndpoint(deps, key, id);
  if (e.disabledAt !== null) throw invalid('id', `names a disabled endpoint (${e.disabledReason ?? 'disabled'})`, 'disabled');
  const now = deps.clock.now();
  const eventId = `evt_${newObjectId(now)}`;
  await deps.store.webhooks.enqueueTest(e, eventId, now);
  deps.webhooksQueued.notify();
  return { eventId };
}

export interface DeliveryOut {
  /** This delivery (one event to this endpoint; a replay is another delivery of the same event). */
  id: string;
  eventId: string;
  type: string;
  attempts: number;
  /** The last attempt's HTTP status (null: no answer, or not tried yet). */
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  /** Null once delivered or given up. */
  nextAttemptAt: string | null;
  createdAt: string;
}

function presentDelivery(m: OutboxMessage): DeliveryOut {
  let last: { status?: number | null; error?: string } = {};
  try {
    last = m.lastError ? (JSON.parse(m.lastError.replace(/^gave up after \d+ attempts: /, '')) as typeof last) : {};
  } catch {
    last = { error: m.lastError ?? undefined };
  }
  const delivered = m.deliveredAt !== null;
  const givenUp = m.nextAttemptAt >= Number.MAX_SAFE_INTEGER;
  return {
    id: m.id,
    eventId: String(m.payload.eventId),
    type: m.topic,
    attempts: m.attempts,
    // Null: not tried yet, no answer, or skipped (its endpoint deleted or disabled before the attempt).
    lastStatusCode: last.status ?? null,
    lastError: delivered ? null : (last.error ?? m.lastError ?? null),
    deliveredAt: delivered ? new Date(m.deliveredAt!).toISOString() : null,
    nextAttemptAt: delivered || givenUp ? null : new Date(m.nextAttemptAt).toISOString(),
    createdAt: new Date(m.createdAt).toISOString(),
  };
}

export async function listDeliveries(deps: Deps, key: WebhookOwner, id: string, query: PageQueryInput) {
  await ownEndpoint(deps, key, id);
  const { req, info } = toPageRequest(query);
  return toPage(await deps.store.webhooks.listDeliveries(id, req), info, presentDelivery);
}

export interface AttemptOut {
  attempt: number;
  at: string;
  durationMs: number;
  statusCode: number | null;
  /** The start of the endpoint's answer (at most 1 KiB). */
  response: string | null;
  error: string | null;
}

const presentAttempt = (a: WebhookAttemptRecord): AttemptOut => ({ attempt: a.attempt, at: new Date(a.at).toISOString(), durationMs: a.durationMs, statusCode: a.status, response: a.response, error: a.error });

/** One delivery with every attempt and the body it sends (signed anew at each attempt). */
export async function getDelivery(deps: Deps, key: WebhookOwner, id: string, deliveryId: string): Promise<DeliveryOut & { attemptLog: AttemptOut[]; body: string | null }> {
  await ownEndpoint(deps, key, id);
  const m = await deps.store.webhooks.getDelivery(id, deliveryId);
  if (!m) throw new AppError('NOT_FOUND', 'Webhook delivery not found');
  const event = await deps.store.webhooks.getEvent(String(m.payload.eventId));
  return { ...presentDelivery(m), attemptLog: (await deps.store.webhooks.listAttempts(m.id)).map(presentAttempt), body: event ? webhookBody(event, deps.config.sandbox) : null };
}

/** A disabled endpoint back in service (after the merchant fixed it): events from now on reach it; replay brings the missed ones. */
export async function enableEndpoint(deps: Deps, key: WebhookOwner, id: string, actor: string): Promise<EndpointOut> {
  const e = await ownEndpoint(deps, key, id);
  if (e.disabledAt === null) throw invalid('id', 'names an endpoint that is not disabled', 'not_disabled');
  const now = deps.clock.now();
  await deps.store.webhooks.enableEndpoint(id, key.merchantId, key.type, auditRecord(now, actor, 'webhook.enabled', id, `was disabled: ${e.disabledReason ?? ''}`, { url: e.url }));
  return present({ ...e, disabledAt: null, disabledReason: null, failingSince: null });
}

const REPLAY_LIMIT = 10_000;

export async function replayEvents(deps: Deps, key: WebhookOwner, id: string, body: { from: string; to: string }): Promise<{ replayed: number }> {
  const e = await ownEndpoint(deps, key, id);
  if (e.disabledAt !== null) throw invalid('id', `names a disabled endpoint (${e.disabledReason ?? 'disabled'})`, 'disabled');
  const from = Date.parse(body.from);
  const to = Date.parse(body.to);
  if (Number.isNaN(from)) throw invalid('from', 'must be an ISO 8601 date-time', 'format');
  if (Number.isNaN(to)) throw invalid('to', 'must be an ISO 8601 date-time', 'format');
  if (from > to) throw invalid('from', 'must not be after to', 'range');
  const replayed = await deps.store.webhooks.replay(e, from, to, deps.clock.now(), REPLAY_LIMIT);
  deps.webhooksQueued.notify();
  return { replayed };
}
