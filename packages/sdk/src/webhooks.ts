/**
 * Webhooks from shahn, signed per Standard Webhooks: `verifyWebhook(rawBody, headers, secret)` checks
 * the signature (HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>`, compared in constant time,
 * any of the space-separated `v1,` signatures, so a rotated secret's pair verifies) and the time stamp
 * (5 minutes either way by default), then returns the typed event.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ShahnError } from './errors.js';
import type { Topup } from './types.js';

export type WebhookEventType = 'topup.handling' | 'topup.fulfilled' | 'topup.refunded' | 'topup.unknown_error';

/** A top-up event: `data` is the check-id object at that moment, with the order's event `sequence`. */
export interface TopupWebhookEvent {
  type: WebhookEventType;
  timestamp: string;
  data: Topup & { sequence: number; resolved_by?: 'support' };
}

/** The test event of `POST /v3/webhooks/{id}/test`. */
export interface PingWebhookEvent {
  type: 'ping';
  timestamp: string;
  data: { message: string };
}

export type WebhookEvent = TopupWebhookEvent | PingWebhookEvent;

export class WebhookVerificationError extends ShahnError {
  override readonly name = 'WebhookVerificationError';
}

export interface VerifyOptions {
  /** How far the time stamp may be from now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The current time in ms (tests). */
  now?: number;
}

/** The HMAC key of a `whsec_…` secret. */
function keyOf(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

function hmac(secret: string, id: string, timestamp: string | number, body: string): Buffer {
  return createHmac('sha256', keyOf(secret)).update(`${id}.${timestamp}.${body}`).digest();
}

/** The `webhook-signature` header for a body: one `v1,` signature per secret (a rotated pair gives two). */
export function signWebhook(secrets: readonly string[], id: string, timestamp: number, body: string): string {
  return secrets.map((s) => `v1,${hmac(s, id, timestamp, body).toString('base64')}`).join(' ');
}

type Headers = Record<string, string | string[] | undefined> | { get(name: string): string | null };

function header(headers: Headers, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  const h = headers as Record<string, string | string[] | undefined>;
  const v = h[name] ?? h[name.toLowerCase()] ?? Object.entries(h).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(v) ? v[0] : v;
}

/** Verify a delivery and return its event; throws WebhookVerificationError when it is not one of ours. */
export function verifyWebhook(rawBody: string | Uint8Array, headers: Headers, secret: string | readonly string[], options: VerifyOptions = {}): WebhookEvent {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const sigs = header(headers, 'webhook-signature');
  if (!id || !ts || !sigs) throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature');
  const seconds = Number(ts);
  if (!/^\d+$/.test(ts) || !Number.isSafeInteger(seconds)) throw new WebhookVerificationError('webhook-timestamp is not a number of seconds');
  const tolerance = options.toleranceSeconds ?? 300;
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(now - seconds) > tolerance) throw new WebhookVerificationError(`webhook-timestamp is more than ${tolerance} s from now`);
  const body = typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody).toString('utf8');
  const given = sigs
    .split(' ')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3), 'base64'));
  const secrets = typeof secret === 'string' ? [secret] : secret;
  for (const sec of secrets) {
    const expected = hmac(sec, id, ts, body);
    if (given.some((g) => g.length === expected.length && timingSafeEqual(g, expected))) {
      try {
        return JSON.parse(body) as WebhookEvent;
      } catch {
        throw new WebhookVerificationError('the body is not JSON');
      }
    }
  }
  throw new WebhookVerificationError('no signature matches');
}
