/**
 * The `relay` gateway: orders forwarded to an upstream provider that speaks the v3 contract (OneClickDz,
 * or another shahn), with the reseller's own key, through `@shahn/sdk`.
 *
 * Why a relayed order is never sent twice: its upstream ref is derived from our order id
 * (`relayRef`), and the upstream refuses a second order with a ref it has seen (DUPLICATED_REF). So a
 * send may be repeated after anything (a lost reply, a 5xx, our crash): the repeat finds the first
 * order by its ref and follows it. The order counts as sent (`callStarting`) once the upstream holds
 * it; an upstream refusal before that (a contract 4xx) proves nothing was made.
 *
 * Following: the upstream order is checked at once-ish, then every few seconds, less often after
 * 30 s, for as long as the processor's gateway timeout allows; many open orders are read through
 * list pages instead of one check each. Its status maps exactly: FULFILLED, REFUNDED (message and
 * offers passed through unchanged), UNKNOWN_ERROR (for support); anything else is UNKNOWN. An order
 * still open upstream when the time is up, or UNKNOWN_ERROR upstream, is UNKNOWN_ERROR here and goes on
 * being checked (`followEveryMs`, for `followDays`): when the upstream settles it, the local order
 * follows through the late-answer path, never against a support decision.
 */
import { MESSAGES } from '@shahn/contract/core';
import {
  AccessTokenDisabledError,
  APIError,
  DuplicatedRefError,
  InsufficientBalanceError,
  InvalidAccessTokenError,
  IpBlockedError,
  IpNotAllowedError,
  NotFoundError,
  PlanDisabledError,
  RateLimitedError,
  ReadOnlyKeyError,
  Shahn,
  ValidationError,
  type Ping,
  type Topup,
} from '@shahn/sdk';
import type { Log } from '../../lib/log.js';
import type { Gateway, GatewayOutcome, GatewayRequest, GatewayTarget, SendContext } from '../gateway.js';
import { GatewaysConfigError } from '../gateways-config.js';
import { reconcileRelay, type ReconcileResult, type ReconcileSource } from './reconcile.js';
import { relayRef, type RelayGatewaySettings } from './relay-config.js';

export { relayRef } from './relay-config.js';

/** What the relay publishes about its upstream (the console's operator view). */
export interface UpstreamStatus {
  state: 'ready' | 'down' | 'starting' | 'stopped';
  baseUrl: string;
  /** DZD, null before the first read. */
  balance: number | null;
  balanceAt: number | null;
  /** The upstream's own /v3/ping, null while unreachable. */
  operators: Ping['operators'] | null;
  pingAt: number | null;
  reason: string | null;
  /** Orders the gateway is following now. */
  following: number;
  /** Upstream calls made, by kind (a check is check-id or check-ref; a list is one page). */
  calls: { validate: number; send: number; check: number; list: number; ping: number; balance: number };
}

export interface RelayHooks {
  log: Log;
  /** The store's clock (orders' creation times). */
  now(): number;
  /** Publish the upstream's state for every process. */
  publish(status: UpstreamStatus): Promise<void>;
  alert(topic: string, payload: Record<string, unknown>): Promise<void>;
  /** Local orders relayed here still UNKNOWN_ERROR, their call started at or after `since` (oldest first, at most `limit`). */
  uncertain(since: number, limit: number): Promise<{ id: string; createdAt: number }[]>;
  /** A late upstream answer for an UNKNOWN_ERROR order ('late' when applied, 'ignored' when the order is no longer UNKNOWN_ERROR). */
  settle(orderId: string, outcome: GatewayOutcome): Promise<'late' | 'ignored'>;
  /** What reconciliation reads of the local store. */
  reconcile: ReconcileSource;
}

interface Following {
  id: string;
  ref: string;
  since: number;
  nextAt: number;
  status: string | undefined;
  resolve: (t: Topup) => void;
}

/** How long before the processor's timeout the relay stops waiting, to record what it has (ms). */
const MARGIN_MS = 1_000;
const AUTH_ERRORS = [InvalidAccessTokenError, AccessTokenDisabledError, IpNotAllowedError, IpBlockedError, ReadOnlyKeyError];

export class RelayGateway implements Gateway {
  readonly client: Shahn;
  readonly status: UpstreamStatus;
  private readonly open = new Map<string, Following>();
  private readonly timers: NodeJS.Timeout[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private following = false;
  private lowAlerted = false;
  private refusedAlertedAt = 0;
  private stopped = false;

  constructor(
    readonly name: string,
    readonly settings: RelayGatewaySettings,
    private readonly hooks: RelayHooks,
    /** Send and follow here (a process with the order processor); otherwise only read the upstream's ping. */
    private readonly drive: boolean,
    fetchImpl?: typeof fetch,
  ) {
    this.client = new Shahn({ apiKey: settings.apiKey, baseUrl: settings.baseUrl, timeoutMs: settings.requestTimeoutMs, maxRetries: 2, ...(fetchImpl ? { fetch: fetchImpl } : {}) });
    this.status = { state: 'starting', baseUrl: settings.baseUrl, balance: null, balanceAt: null, operators: null, pingAt: null, reason: null, following: 0, calls: { validate: 0, send: 0, check: 0, list: 0, ping: 0, balance: 0 } };
  }

  /**
   * Check the key (`GET /v3/validate`): a key the upstream refuses, or a SANDBOX key without
   * `allowSandbox`, stops the start with a clear message. An unreachable upstream does not: its
   * operators are down until it answers.
   */
  async start(): Promise<void> {
    try {
      this.status.calls.validate++;
      const info = await this.client.validate();
      if (info.apiKey.type === 'SANDBOX' && !this.settings.allowSandbox) {
        throw new RelayStartError(`the upstream key of gateway ${this.name} is a SANDBOX key: its orders would never reach an operator (set "allowSandbox": true to relay to a sandbox, for tests)`);
      }
      if (!info.apiKey.isEnabled) throw new RelayStartError(`the upstream key of gateway ${this.name} is disabled upstream`);
    } catch (err) {
      if (err instanceof RelayStartError) throw err;
      if (AUTH_ERRORS.some((c) => err instanceof c)) throw new RelayStartError(`the upstream ${this.settings.baseUrl} refused the key of gateway ${this.name} (${(err as APIError).code})`);
      this.hooks.log.warn({ gateway: this.name, err: (err as Error).message }, `the upstream ${this.settings.baseUrl} did not answer /v3/validate; its operators are down until it answers`);
    }
    await this.ping();
    this.every(this.settings.pingEveryMs, () => this.ping());
    if (this.drive) {
      await this.readBalance();
      this.every(this.settings.balanceEveryMs, () => this.readBalance());
      this.every(this.settings.followEveryMs, () => this.followUncertain());
      if (this.settings.reconcileEveryMs > 0) this.every(this.settings.reconcileEveryMs, async () => void (await this.reconcileRecent()));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.pollTimer);
    this.status.state = 'stopped';
    if (this.drive) await this.publish();
  }

  isUp(target: GatewayTarget): boolean {
    const ops = this.status.operators;
    if (!ops || this.status.pingAt === null || Date.now() - this.status.pingAt > 3 * this.settings.pingEveryMs + 5_000) return false;
    return (ops as Record<string, string>)[target.healthKey] === 'up';
  }

  describe(): string {
    return `relay to ${this.settings.baseUrl}`;
  }

  async send(request: GatewayRequest, ctx: SendContext): Promise<GatewayOutcome> {
    if (!this.drive) return { kind: 'NOT_SENT', reason: `this process does not relay orders (${this.name})`, retryInMs: 5_000 };
    const ref = relayRef(request.orderId);
    const plan = this.settings.plans[request.planCode] ?? request.planCode;
    let topupId: string;
    try {
      this.status.calls.send++;
      const sent = await this.client.mobile.send({ plan_code: plan, MSSIDN: request.mssidn, amount: request.amount, ref }, { signal: ctx.signal });
      topupId = sent.topupId;
    } catch (err) {
      if (err instanceof DuplicatedRefError) {
        // Sent before (a reply lost for good, our crash): the upstream holds that order; follow it.
        try {
          this.status.calls.check++;
          topupId = (await this.client.mobile.checkRef(ref, { signal: ctx.signal }))._id;
        } catch (e) {
          return { kind: 'NOT_SENT', reason: `the upstream holds ${ref} but check-ref failed (${(e as Error).message}); checked again later`, retryInMs: 5_000 };
        }
      } else {
        return this.refused(request, err as Error);
      }
    }
    // The upstream holds the order: from here it is sent, and only its upstream status settles it.
    if (!(await ctx.callStarting(this.name))) return { kind: 'NOT_SENT', reason: 'the order was taken by another worker' };
    const t = await this.follow(topupId, ref, ctx);
    if (typeof t !== 'string') return this.outcomeOf(t, topupId);
    return { kind: 'UNKNOWN', reason: `the upstream order ${topupId} (${ref}) is not final within the gateway timeout (last seen ${t}); it goes on being checked`, trace: this.trace(topupId, t) };
  }

  /** The local outcome of an upstream top-up in a final status. */
  outcomeOf(t: Topup, topupId: string): GatewayOutcome {
    const trace = this.trace(topupId, t.status);
    switch (t.status) {
      case 'FULFILLED':
        return { kind: 'FULFILLED', trace };
      case 'REFUNDED':
        return {
          kind: 'REFUNDED',
          refundMessage: t.refund_message ?? MESSAGES.REFUNDED_AFTER_REVIEW,
          ...(t.suggested_offers ? { suggestedOffers: t.suggested_offers.map((o) => ({ typename: o.typename, plan_code: o.plan_code, amount: o.amount })) } : {}),
          trace,
        };
      case 'UNKNOWN_ERROR':
        return { kind: 'UNKNOWN', reason: `the upstream order ${topupId} is UNKNOWN_ERROR; support upstream decides, and it goes on being checked`, trace };
      default:
        return { kind: 'UNKNOWN', reason: `the upstream order ${topupId} has the status ${JSON.stringify(t.status)}`, trace };
    }
  }

  /** An upstream error before it held the order: wait PENDING, or refund when it proves the top-up cannot be made. */
  private async refused(request: GatewayRequest, err: Error): Promise<GatewayOutcome> {
    const age = this.hooks.now() - request.createdAt;
    const waitOrRefund = async (topic: string, why: string, retryInMs: number): Promise<GatewayOutcome> => {
      if (age >= this.settings.shortBalanceWaitMs) {
        this.hooks.log.error({ gateway: this.name, orderId: request.orderId, err: err.message }, `order ${request.orderId} refunded: ${why} for ${Math.round(age / 60_000)} min`);
        return { kind: 'REFUNDED', refundMessage: MESSAGES.REFUNDED_AFTER_REVIEW, trace: { channel: this.name, detail: JSON.stringify({ upstream: this.settings.baseUrl, refused: (err as APIError).code ?? err.message, why }) } };
      }
      await this.alertRefusal(topic, why, err);
      return { kind: 'NOT_SENT', reason: why, retryInMs };
    };
    if (err instanceof InsufficientBalanceError) return waitOrRefund('UPSTREAM_BALANCE_SHORT', `the upstream balance is short (${err.message})`, 30_000);
    if (AUTH_ERRORS.some((c) => err instanceof c)) return waitOrRefund('UPSTREAM_KEY_REFUSED', `the upstream refused the key (${(err as APIError).code})`, 60_000);
    if (err instanceof PlanDisabledError || err instanceof ValidationError) {
      // The upstream will not take this order as it is: nothing was made; the merchant may send another.
      this.hooks.log.error({ gateway: this.name, orderId: request.orderId, code: (err as APIError).code, err: err.message }, `the upstream refused order ${request.orderId}; refunded`);
      return { kind: 'REFUNDED', refundMessage: MESSAGES.REFUNDED_AFTER_REVIEW, trace: { channel: this.name, detail: JSON.stringify({ upstream: this.settings.baseUrl, refused: (err as APIError).code, message: err.message.slice(0, 300) }) } };
    }
    if (err instanceof RateLimitedError) return { kind: 'NOT_SENT', reason: 'the upstream rate limit', retryInMs: 2_000 };
    if (err instanceof APIError && err.status < 500 && !err.code.startsWith('HTTP_')) {
      return waitOrRefund('UPSTREAM_REFUSED', `the upstream refused the order (${err.code})`, 30_000);
    }
    // No answer, a 5xx, a proxy's page: the SDK asked by ref and found nothing it could trust. The next
    // attempt sends the same ref, so the upstream can hold one order at most.
    return { kind: 'NOT_SENT', reason: `the upstream did not take the order: ${err.message}`, retryInMs: 5_000 };
  }

  private async alertRefusal(topic: string, why: string, err: Error): Promise<void> {
    const now = this.hooks.now();
    if (now - this.refusedAlertedAt < 10 * 60_000) return;
    this.refusedAlertedAt = now;
    this.hooks.log.error({ alert: topic.toLowerCase(), gateway: this.name, err: err.message }, `ALERT: ${why}; orders wait PENDING`);
    await this.hooks.alert(topic, { gateway: this.name, reason: why }).catch((e: unknown) => this.hooks.log.error({ err: e }, 'could not record an upstream alert'));
  }

  /** Wait for the upstream order to be final, within the processor's time; its last status seen when it is not. */
  private follow(id: string, ref: string, ctx: SendContext): Promise<Topup | string> {
    return new Promise((resolve) => {
      const now = Date.now();
      const waitMs = ctx.remainingMs() - MARGIN_MS;
      const done = (t: Topup | undefined) => {
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', onAbort);
        const last = this.open.get(id)?.status ?? 'PENDING';
        this.open.delete(id);
        this.status.following = this.open.size;
        resolve(t ?? last);
      };
      const timer = setTimeout(() => done(undefined), Math.max(0, waitMs));
      const onAbort = () => done(undefined);
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      this.open.set(id, { id, ref, since: now, nextAt: now + this.settings.firstCheckMs, status: undefined, resolve: (t) => done(t) });
      this.status.following = this.open.size;
      this.schedulePoll();
    });
  }

  private schedulePoll(): void {
    if (this.stopped || this.polling) return;
    clearTimeout(this.pollTimer);
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.open.values()) next = Math.min(next, e.nextAt);
    if (next === Number.POSITIVE_INFINITY) return;
    this.pollTimer = setTimeout(() => void this.poll(), Math.max(0, next - Date.now()));
  }

  /** Check the open orders that are due: one check each, or list pages when several are due. */
  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      const now = Date.now();
      const due = [...this.open.values()].filter((e) => e.nextAt <= now);
      const seen = new Map<string, Topup>();
      if (due.length >= 3) {
        await this.listInto(seen, Math.min(...[...this.open.values()].map((e) => e.since)), due);
      }
      for (const e of due) {
        if (seen.has(e.id)) continue;
        try {
          this.status.calls.check++;
          seen.set(e.id, await this.client.mobile.checkId(e.id));
        } catch (err) {
          this.hooks.log.warn({ gateway: this.name, topupId: e.id, err: (err as Error).message }, 'an upstream check failed; checked again later');
        }
      }
      const after = Date.now();
      for (const e of this.open.values()) {
        const t = seen.get(e.id);
        if (t) e.status = t.status;
        if (t && (t.status === 'FULFILLED' || t.status === 'REFUNDED' || t.status === 'UNKNOWN_ERROR' || !['PENDING', 'HANDLING'].includes(t.status))) {
          e.resolve(t);
          continue;
        }
        if (e.nextAt <= now || t) e.nextAt = after + (after - e.since < 30_000 ? this.settings.checkEveryMs : this.settings.slowCheckMs);
      }
    } finally {
      this.polling = false;
      this.schedulePoll();
    }
  }

  /** Read list pages over the window the open orders were sent in, until every due one is seen (at most 10 pages). */
  private async listInto(seen: Map<string, Topup>, since: number, due: Following[]): Promise<void> {
    const from = new Date(since - 120_000).toISOString();
    const to = new Date(Date.now() + 120_000).toISOString();
    const wanted = new Set(due.map((e) => e.id));
    try {
      for (let page = 1; page <= 10 && wanted.size > 0; page++) {
        this.status.calls.list++;
        const p = await this.client.mobile.list({ page, pageSize: 100, from, to });
        for (const t of p.items) {
          seen.set(t._id, t);
          wanted.delete(t._id);
        }
        if (p.items.length < 100) break;
      }
    } catch (err) {
      this.hooks.log.warn({ gateway: this.name, err: (err as Error).message }, 'an upstream list failed; checking one by one');
    }
  }

  /** Local UNKNOWN_ERROR orders relayed here: their upstream order checked by ref; a final answer settles them. */
  async followUncertain(): Promise<void> {
    if (this.following || this.stopped) return;
    this.following = true;
    try {
      const orders = await this.hooks.uncertain(this.hooks.now() - this.settings.followDays * 86_400_000, 500);
      for (const o of orders) {
        if (this.stopped) return;
        let t: Topup;
        try {
          this.status.calls.check++;
          t = await this.client.mobile.checkRef(relayRef(o.id));
        } catch (err) {
          if (err instanceof NotFoundError) this.hooks.log.warn({ gateway: this.name, orderId: o.id }, `the upstream has no order ${relayRef(o.id)}; support decides`);
          else this.hooks.log.warn({ gateway: this.name, orderId: o.id, err: (err as Error).message }, 'an upstream check failed; checked again later');
          continue;
        }
        if (t.status !== 'FULFILLED' && t.status !== 'REFUNDED') continue;
        const result = await this.hooks.settle(o.id, this.outcomeOf(t, t._id));
        if (result === 'late') this.hooks.log.warn({ gateway: this.name, orderId: o.id, status: t.status }, `order ${o.id} settled ${t.status} by its upstream order`);
      }
    } catch (err) {
      this.hooks.log.warn({ gateway: this.name, err: (err as Error).message }, 'following the uncertain relayed orders failed; tried again later');
    } finally {
      this.following = false;
    }
  }

  /**
   * The scheduled reconciliation: the orders of the last interval (ending an hour ago, so that orders
   * still being followed are left out); every mismatch becomes an alert.
   */
  async reconcileRecent(): Promise<ReconcileResult | undefined> {
    const to = this.hooks.now() - 3_600_000;
    try {
      const result = await reconcileRelay(this.name, this.client, this.hooks.reconcile, to - this.settings.reconcileEveryMs, to);
      for (const m of result.mismatches) {
        this.hooks.log.error({ alert: 'relay.reconcile_mismatch', gateway: this.name, ...m }, `ALERT: reconciliation with the upstream: ${m.detail}`);
        await this.hooks.alert('RECONCILE_MISMATCH', { gateway: this.name, ...m, reason: m.detail });
      }
      this.hooks.log.info({ gateway: this.name, orders: result.localOrders, mismatches: result.mismatches.length }, 'reconciled the relayed orders with the upstream');
      return result;
    } catch (err) {
      this.hooks.log.warn({ gateway: this.name, err: (err as Error).message }, 'reconciliation with the upstream failed; tried again at the next run');
      return undefined;
    }
  }

  private async ping(): Promise<void> {
    try {
      this.status.calls.ping++;
      const p = await this.client.ping();
      this.status.operators = p.operators;
      this.status.pingAt = Date.now(); // real time, as the pings' timer runs
      this.status.state = 'ready';
      this.status.reason = null;
    } catch (err) {
      this.status.operators = null;
      this.status.state = 'down';
      this.status.reason = `the upstream did not answer /v3/ping: ${(err as Error).message}`;
    }
    if (this.drive) await this.publish();
  }

  private async readBalance(): Promise<void> {
    try {
      this.status.calls.balance++;
      const b = await this.client.account.balance();
      this.status.balance = b.balance;
      this.status.balanceAt = this.hooks.now();
    } catch (err) {
      this.hooks.log.warn({ gateway: this.name, err: (err as Error).message }, 'could not read the upstream balance');
      return;
    }
    const low = this.settings.lowBalance;
    if (low !== undefined && this.status.balance !== null && this.status.balance < low) {
      if (!this.lowAlerted) {
        this.lowAlerted = true;
        this.hooks.log.warn({ alert: 'upstream.low_balance', gateway: this.name, balance: this.status.balance, threshold: low }, `ALERT: the upstream balance ${this.status.balance} DA is under ${low} DA`);
        await this.hooks.alert('UPSTREAM_LOW_BALANCE', { gateway: this.name, balance: this.status.balance, threshold: low }).catch((e: unknown) => this.hooks.log.error({ err: e }, 'could not record an upstream alert'));
      }
    } else {
      this.lowAlerted = false;
    }
    await this.publish();
  }

  private async publish(): Promise<void> {
    await this.hooks.publish({ ...this.status, calls: { ...this.status.calls } }).catch((err: unknown) => this.hooks.log.warn({ gateway: this.name, err: (err as Error).message }, 'could not publish the upstream state'));
  }

  private trace(topupId: string, status: string): { channel: string; detail: string } {
    return { channel: this.name, detail: JSON.stringify({ upstream: this.settings.baseUrl, topupId, status }) };
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => void fn(), ms);
    t.unref();
    this.timers.push(t);
  }
}

/** The upstream refuses the key, or it is a SANDBOX key where none is allowed: `serve` stops with this message. */
export class RelayStartError extends GatewaysConfigError {}
