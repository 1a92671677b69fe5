/**
 * Delivers merchants' webhooks from the outbox (messages of kind `webhook`: one event for one
 * endpoint), signed per Standard Webhooks:
 *
 *   webhook-id: <event id>            (the same on every attempt and replay)
 *   webhook-timestamp: <unix seconds of the attempt>
 *   webhook-signature: v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")> [v1,<…> with the previous secret]
 *
 * Each delivery runs on its own (up to `concurrency` at once, at most `perEndpoint` of them to one
 * endpoint), so one slow or dead endpoint never delays the others; a delivery is claimed with a lease longer than its timeout, so the dispatchers
 * of several processes send it once (at least once when one dies mid-delivery). A 2xx delivers; 410
 * disables the endpoint; 429 and 503 are tried again after their Retry-After; anything else after
 * the next step of the schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h,
 * with jitter), then the message is given up. An endpoint failing for 5 days is disabled, with an
 * alert. Redirects are not followed; private, loopback and link-local addresses are refused unless
 * SHAHN_WEBHOOK_ALLOW_PRIVATE, also after DNS resolution (the address connected to is checked).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { signWebhook } from '@shahn/sdk';
import type { Clock } from '../lib/clock.js';
import type { Log } from '../lib/log.js';
import { newObjectId } from '../lib/ids.js';
import type { SandboxTimeline } from '../lib/sandbox-timeline.js';
import { webhookBody } from '../domain/webhooks.js';
import type { OutboxMessage, Store, WebhookEndpointRecord, WebhookEventRecord } from '../store/store.js';
import { auditRecord } from '../support/audit.js';
import { isPrivateAddress } from '../domain/webhook-urls.js';

/** The waits after each failed attempt (ms); after the last, the message is given up. */
export const WEBHOOK_SCHEDULE_MS = [5_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000, 10 * 3_600_000, 14 * 3_600_000, 20 * 3_600_000, 24 * 3_600_000];
const TIMEOUT_MS = 15_000;
/** How much of an endpoint's answer is read and kept with the attempt. */
const BODY_CAP = 1_024;
const DISABLE_AFTER_MS = 5 * 86_400_000;

export interface WebhookDispatcherOptions {
  pollMs: number;
  /** Deliveries at once (default 64). */
  concurrency?: number;
  /** Deliveries at once to one endpoint (default 16): a slow or dead endpoint holds at most these. */
  perEndpoint?: number;
  allowPrivate: boolean;
  /** The schedule's waits (tests shorten it). */
  scheduleMs?: readonly number[];
  timeoutMs?: number;
  /** The sandbox's timeline (a sandbox event's data is the order as the sandbox shows it at the event's moment). */
  sandbox?: SandboxTimeline;
}

class AttemptFailed extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryAfterMs?: number,
    readonly response: string | null = null,
  ) {
    super(message);
  }
}

export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly perEndpoint = new Map<string, number>();
  /** This dispatcher's own connections (kept alive): opened under its address rules, never another's. */
  private readonly agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  private polling = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly deps: { store: Store; clock: Clock; logger: Log; onAlert?: () => void },
    private readonly options: WebhookDispatcherOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.options.pollMs);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.all([...this.inFlight]);
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** Claim what is due and start delivering it, up to the concurrency (a kick during a claim claims again after it). */
  kick(): void {
    if (this.stopped) return;
    if (this.polling) {
      this.again = true;
      return;
    }
    this.polling = true;
    void this.poll().finally(() => {
      this.polling = false;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Resolves when nothing is in flight (tests). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private async poll(): Promise<void> {
    const room = (this.options.concurrency ?? 64) - this.inFlight.size;
    if (room <= 0) return;
    const cap = this.options.perEndpoint ?? 16;
    let due: OutboxMessage[];
    try {
      // Each endpoint's share: what it has free of its cap here. The lease outlasts an attempt (its timeout) and the store's writes after it.
      due = await this.deps.store.webhooks.claimWebhooks(this.deps.clock.now(), room, (this.options.timeoutMs ?? TIMEOUT_MS) + 5_000, (endpointId) => cap - (this.perEndpoint.get(endpointId) ?? 0));
    } catch (err) {
      this.deps.logger.error({ err }, 'could not claim webhook deliveries');
      return;
    }
    for (const m of due) {
      this.perEndpoint.set(m.subject, (this.perEndpoint.get(m.subject) ?? 0) + 1);
      const p = this.deliver(m).finally(() => {
        this.inFlight.delete(p);
        const n = (this.perEndpoint.get(m.subject) ?? 1) - 1;
        if (n <= 0) this.perEndpoint.delete(m.subject);
        else this.perEndpoint.set(m.subject, n);
        this.kick();
      });
      this.inFlight.add(p);
    }
  }

  private async deliver(message: OutboxMessage): Promise<void> {
    const { store, clock, logger } = this.deps;
    const endpoint = await store.webhooks.getEndpoint(message.subject);
    const event = await store.webhooks.getEvent(String(message.payload.eventId));
    if (!endpoint || endpoint.disabledAt !== null || !event || (await this.superseded(event))) {
      // Deleted or disabled since, or a sandbox moment that support's decision replaced: nothing to send.
      await store.outbox.markDelivered(message.id, clock.now());
      return;
    }
    const now = clock.now();
    const started = Date.now();
    const attempt = (a: { status: number | null; response: string | null; error: string | null }) => ({ attempt: message.attempts + 1, at: now, durationMs: Date.now() - started, ...a });
    try {
      const answer = await this.post(endpoint, event, now);
      await store.webhooks.finishAttempt(message.id, attempt({ ...answer, error: null }), { deliveredAt: clock.now() });
      if (endpoint.failingSince !== null) await store.webhooks.setFailingSince(endpoint.id, null);
    } catch (err) {
      const failed = err instanceof AttemptFailed ? err : new AttemptFailed((err as Error).message, null);
      const detail = JSON.stringify({ status: failed.status, error: failed.message.slice(0, 300) });
      const tried = attempt({ status: failed.status, response: failed.response, error: failed.message.slice(0, 300) });
      if (failed.status === 410) {
        await store.webhooks.finishAttempt(message.id, tried, { nextAttemptAt: Number.MAX_SAFE_INTEGER, lastError: detail });
        await this.disable(endpoint, 'the endpoint answered 410 Gone');
        return;
      }
      const schedule = this.options.scheduleMs ?? WEBHOOK_SCHEDULE_MS;
      const failedBefore = message.attempts;
      if (failedBefore >= schedule.length) {
        await store.webhooks.finishAttempt(message.id, tried, { nextAttemptAt: Number.MAX_SAFE_INTEGER, lastError: `gave up after ${failedBefore + 1} attempts: ${detail}` });
      } else {
        const base = schedule[failedBefore]!;
        const wait = failed.retryAfterMs !== undefined ? Math.max(failed.retryAfterMs, 1_000) : Math.round(base * (0.9 + Math.random() * 0.2));
        await store.webhooks.finishAttempt(message.id, tried, { nextAttemptAt: clock.now() + wait, lastError: detail });
      }
      const since = endpoint.failingSince ?? now;
      if (endpoint.failingSince === null) await store.webhooks.setFailingSince(endpoint.id, now);
      else if (now - since >= DISABLE_AFTER_MS) await this.disable(endpoint, `every delivery failed for ${Math.round((now - since) / 86_400_000)} days`);
      logger.warn({ endpoint: endpoint.id, event: event.id, attempt: failedBefore + 1, status: failed.status, err: failed.message }, 'a webhook delivery failed');
    }
  }

  /** A sandbox order's scheduled event after support resolved the order (its own event told the endpoint). */
  private async superseded(event: WebhookEventRecord): Promise<boolean> {
    if (event.env !== 'SANDBOX' || event.resolvedBy !== null || !event.orderId) return false;
    const order = await this.deps.store.orders.findOrderAnywhere(event.orderId);
    return order !== undefined && order.status !== 'PENDING';
  }

  private async disable(endpoint: WebhookEndpointRecord, reason: string): Promise<void> {
    const { store, clock, logger } = this.deps;
    const at = clock.now();
    const disabled = await store.webhooks.disableEndpoint(
      endpoint.id,
      at,
      reason,
      { id: newObjectId(at), kind: 'alert', topic: 'WEBHOOK_DISABLED', subject: endpoint.id, payload: { event: 'webhook.disabled', endpointId: endpoint.id, merchantId: endpoint.merchantId, url: endpoint.url, reason, at: new Date(at).toISOString() }, createdAt: at, attempts: 0, nextAttemptAt: at, deliveredAt: null, lastError: null },
      auditRecord(at, 'webhooks', 'webhook.disabled', endpoint.id, reason, { url: endpoint.url, merchantId: endpoint.merchantId }),
    );
    if (!disabled) return;
    logger.warn({ alert: 'webhook.disabled', endpoint: endpoint.id, reason }, `ALERT: webhook endpoint ${endpoint.id} disabled: ${reason}`);
    this.deps.onAlert?.();
  }

  /** One attempt: resolves with the status and the start of the answer of a 2xx, throws AttemptFailed otherwise. */
  private post(endpoint: WebhookEndpointRecord, event: WebhookEventRecord, now: number): Promise<{ status: number; response: string }> {
    const body = webhookBody(event, this.options.sandbox);
    const timestamp = Math.floor(Date.now() / 1000);
    const secrets = [endpoint.secret, ...(endpoint.previousSecret && (endpoint.previousSecretUntil ?? 0) > now ? [endpoint.previousSecret] : [])];
    const url = new URL(endpoint.url);
    const allowPrivate = this.options.allowPrivate;
    // The address connected to is checked, not the name: a name that resolves to a private address is refused.
    // Node asks for every address (`all`, to try them in turn) or for one.
    const lookup = (host: string, opts: { all?: boolean }, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
      dnsLookup(host, { ...opts, all: true }, (err, addresses) => {
        if (err) return cb(err, '', 0);
        const refused = allowPrivate ? undefined : addresses.find((a) => isPrivateAddress(a.address));
        if (refused) return cb(new Error(`${host} resolves to a private address (${refused.address})`), '', 0);
        if (opts.all) return cb(null, addresses);
        cb(null, addresses[0]!.address, addresses[0]!.family);
      });
    };
    if (!allowPrivate && isIP(url.hostname.replace(/^\[|\]$/g, '')) && isPrivateAddress(url.hostname.replace(/^\[|\]$/g, ''))) {
      return Promise.reject(new AttemptFailed(`${url.hostname} is a private address`, null));
    }
    return new Promise((resolve, reject) => {
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          agent: url.protocol === 'https:' ? this.agents.https : this.agents.http,
          lookup: lookup as never,
          timeout: this.options.timeoutMs ?? TIMEOUT_MS,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'shahn-webhooks/1',
            'webhook-id': event.id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signWebhook(secrets, event.id, timestamp, body),
          },
        },
        (res) => {
          let got = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            if (got.length < BODY_CAP) got += c;
          });
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const response = got.slice(0, BODY_CAP);
            if (status >= 200 && status < 300) return resolve({ status, response });
            const retryAfter = Number(res.headers['retry-after']);
            reject(new AttemptFailed(`HTTP ${status}: ${response.slice(0, 200)}`, status, (status === 429 || status === 503) && Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined, response));
          });
          res.on('error', (e) => reject(new AttemptFailed(e.message, res.statusCode ?? null)));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.options.timeoutMs ?? TIMEOUT_MS} ms`)));
      req.on('error', (e) => reject(new AttemptFailed(e.message, null)));
      req.end(body);
    });
  }
}
