/**
 * The sync kit: a merchant's own order table kept in step with the API, as the status guide asks.
 * - send(): records the order, then sends it with a ref (the SDK never sends twice blindly).
 * - getOrder(): answers from the store; calls the API only while the status is not final.
 * - pollOnce(): checks the open orders that are due; many at once cost one `list` page per 100.
 * - recheckUncertain(): the daily job for UNKNOWN_ERROR orders older than 24 h.
 * - handleWebhook(): applies a signed webhook delivery at once (polling stays the safety net: a lost
 *   webhook never loses a transition, and a stale or repeated one never moves an order back).
 * - deliverEvents(): calls onFulfilled / onRefunded / onUncertain exactly once per order and
 *   transition: the transition is recorded (in the same transaction as the status) before any hook
 *   runs; a hook that throws is retried; a hook whose process died while it ran is never called
 *   again automatically (it is listed as interrupted for a person to look at).
 */
import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import { APIError, ConnectionError, NotFoundError, sendMayHaveActed, ShahnError, verifyWebhook, type Shahn, type SuggestedOffer, type Topup } from '@shahn/sdk';
import { DEFAULT_SCHEDULE, nextCheckAt, type Schedule } from './schedule.js';
import type { KitEvent, KitOrder, KitStatus, KitStore, Transition } from './store.js';

export interface Clock {
  now(): number;
}

export interface Hooks {
  onFulfilled?: (order: KitOrder) => unknown;
  /** Refund your end user here, and show them refund_message as is; offer the suggested offers. */
  onRefunded?: (order: KitOrder, info: { refund_message: string | null; suggested_offers: SuggestedOffer[] | null }) => unknown;
  /** Do NOT refund here: the outcome is unknown. Show refund_message; the daily recheck follows it up. */
  onUncertain?: (order: KitOrder) => unknown;
}

export interface SyncKitOptions {
  client: Shahn;
  store: KitStore;
  hooks?: Hooks;
  clock?: Clock;
  schedule?: Schedule;
  /** This process's name in hook claims. */
  instanceId?: string;
  /** A hook must finish within this (ms); past it, the claim is considered dead (interrupted). */
  hookLeaseMs?: number;
  /** First retry delay of a hook that threw; doubles up to 10 min. */
  hookRetryMs?: number;
  /** UNKNOWN_ERROR orders older than this are rechecked by the daily job (default 24 h). */
  recheckAfterMs?: number;
  /** Cron pattern of the recheck job (croner), default daily at midnight. */
  recheckCron?: string;
  /** How often the background loop looks for due orders and events (ms). */
  tickMs?: number;
  /** Allowed difference between our clock and the API's when guessing list windows (ms). */
  clockSkewMs?: number;
  /**
   * A SENDING order whose ref the API does not know is REJECTED only once it is this old (ms, default
   * 10 min): longer than a send with its timeouts and retries can take, so a send still on its way
   * (in this process or another) is never taken for one that never arrived.
   */
  sendGraceMs?: number;
  logger?: { warn(obj: object, msg?: string): void; error(obj: object, msg?: string): void };
  /** The webhook endpoint's secret (`whsec_…`; several during a rotation), for handleWebhook. */
  webhookSecret?: string | readonly string[];
}

/** How far along the lifecycle a status is: an update moves an order forward only. */
const RANK: Record<string, number> = { SENDING: 0, PENDING: 1, HANDLING: 2, UNKNOWN_ERROR: 3, FULFILLED: 4, REFUNDED: 4, REJECTED: 4 };

export interface SendInput {
  /** Your own order id (unique). The ref sent to the API is derived from it unless given. */
  orderId: string;
  plan_code: string;
  MSSIDN: string;
  amount?: number;
  ref?: string;
}

const OPEN = new Set<KitStatus>(['SENDING', 'PENDING', 'HANDLING']);
const FINAL = new Set<KitStatus>(['FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR']);

export class SyncKit {
  readonly store: KitStore;
  /** API calls made by this kit instance (checks, lists, sends). */
  apiCalls = 0;
  private readonly client: Shahn;
  private readonly hooks: Hooks;
  private readonly clock: Clock;
  private readonly schedule: Schedule;
  private readonly instanceId: string;
  private readonly opts: Required<Pick<SyncKitOptions, 'hookLeaseMs' | 'hookRetryMs' | 'recheckAfterMs' | 'recheckCron' | 'tickMs' | 'clockSkewMs' | 'sendGraceMs'>>;
  /** Orders whose send() is running in this process: the poller leaves them alone. */
  private readonly sending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private cron: Cron | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: SyncKitOptions) {
    this.client = options.client;
    this.store = options.store;
    this.hooks = options.hooks ?? {};
    this.clock = options.clock ?? { now: () => Date.now() };
    this.schedule = options.schedule ?? DEFAULT_SCHEDULE;
    this.instanceId = options.instanceId ?? `kit-${randomUUID().slice(0, 8)}`;
    this.opts = {
      hookLeaseMs: options.hookLeaseMs ?? 5 * 60_000,
      hookRetryMs: options.hookRetryMs ?? 5_000,
      recheckAfterMs: options.recheckAfterMs ?? 24 * 3600_000,
      recheckCron: options.recheckCron ?? '0 0 * * *',
      tickMs: options.tickMs ?? 1_000,
      clockSkewMs: options.clockSkewMs ?? 120_000,
      sendGraceMs: options.sendGraceMs ?? 10 * 60_000,
    };
  }

  /** Record the order, then send it. Throws the API's error when the send was refused (the order is REJECTED). */
  async send(input: SendInput): Promise<KitOrder> {
    const now = this.clock.now();
    const ref = input.ref ?? `${input.orderId}`;
    const order: KitOrder = {
      id: input.orderId, ref, topupId: null, planCode: input.plan_code, mssidn: input.MSSIDN, amount: input.amount ?? null,
      status: 'SENDING', refundMessage: null, suggestedOffers: null, createdAt: now, updatedAt: now, apiCreatedAt: null,
      knownFinalAt: null, nextCheckAt: now + this.schedule.sendingCheckMs, checks: 0, lastError: null,
    };
    if (!(await this.store.insertOrder(order))) throw new Error(`order ${input.orderId} (ref ${ref}) exists already`);
    this.sending.add(order.id);
    try {
      this.apiCalls++;
      const sent = await this.client.mobile.send({ plan_code: input.plan_code, MSSIDN: input.MSSIDN, ref, ...(input.amount !== undefined ? { amount: input.amount } : {}) });
      await this.store.applyStatus(order.id, 'SENDING', {
        status: 'PENDING', topupId: sent.topupId, refundMessage: null, suggestedOffers: null, apiCreatedAt: null,
        nextCheckAt: now + this.schedule.firstCheckMs,
      }, this.clock.now());
    } catch (err) {
      if (err instanceof APIError && !sendMayHaveActed(err)) {
        // A definite refusal (a contract 4xx): no top-up exists.
        await this.store.applyStatus(order.id, 'SENDING', {
          status: 'REJECTED', refundMessage: null, suggestedOffers: null, apiCreatedAt: null, nextCheckAt: null, lastError: `${err.code}: ${err.message}`,
        }, this.clock.now());
      }
      // Otherwise (a lost reply, a 5xx) the outcome is unknown: the order stays SENDING and is checked by ref later.
      throw err;
    } finally {
      this.sending.delete(order.id);
    }
    return (await this.store.getOrder(order.id)) as KitOrder;
  }

  /** From the store; from the API only while the order is not final. */
  async getOrder(id: string): Promise<KitOrder | undefined> {
    const order = await this.store.getOrder(id);
    if (!order || !OPEN.has(order.status) || this.sending.has(order.id)) return order;
    await this.checkOne(order);
    return this.store.getOrder(id);
  }

  /** Check every due open order once; returns how many were checked. */
  async pollOnce(limit = 10_000): Promise<number> {
    const now = this.clock.now();
    const due = (await this.store.dueOrders(now, limit)).filter((o) => !this.sending.has(o.id));
    if (due.length === 0) return 0;
    const sending = due.filter((o) => o.status === 'SENDING' || o.topupId === null);
    const open = due.filter((o) => o.status !== 'SENDING' && o.topupId !== null);
    for (const o of sending) await this.checkOne(o, now);
    if (open.length >= 2 && (await this.listCovers(open, now))) return due.length;
    for (const o of open) await this.checkOne(o, now);
    return due.length;
  }

  /**
   * Many due orders: one list page holds 100 top-ups, so read the window they were created in,
   * page by page, when that costs fewer calls than one check each. Returns false to fall back.
   */
  private async listCovers(due: KitOrder[], now: number): Promise<boolean> {
    const times = due.map((o) => o.apiCreatedAt ?? o.createdAt);
    const from = Math.min(...times) - this.opts.clockSkewMs;
    const to = Math.max(...times) + this.opts.clockSkewMs;
    const estimate = await this.store.countCreatedBetween(from, to);
    const pages = Math.ceil(estimate / 100);
    if (pages >= due.length) return false;
    const wanted = new Map(due.map((o) => [o.topupId as string, o]));
    // Every open order of ours in the window: a page read for the due ones updates them too, for free.
    const open = new Map((await this.store.openBetween(from, to)).map((o) => [o.topupId as string, o]));
    try {
      for (let page = 1; wanted.size > 0; page++) {
        this.apiCalls++;
        const result = await this.client.mobile.list({ page, pageSize: 100, from: new Date(from).toISOString(), to: new Date(to).toISOString() });
        for (const t of result.items) {
          const o = wanted.get(t._id) ?? open.get(t._id);
          if (!o) continue;
          wanted.delete(t._id);
          open.delete(t._id);
          // Every open order the page shows was just looked at: applied and rescheduled from now, due or
          // not, so that their next checks fall together and one list pass answers them again.
          await this.apply(o, t, 0, now);
        }
        if (page >= result.pagination.totalPages || result.items.length === 0) break;
      }
    } catch (err) {
      this.options.logger?.warn({ err: (err as Error).message }, 'list poll failed; falling back to checks');
    }
    for (const o of wanted.values()) await this.checkOne(o, now);
    return true;
  }

  /** `now`: when this poll started (the schedule counts from there, not from when the answer came). */
  private async checkOne(order: KitOrder, now = this.clock.now()): Promise<void> {
    try {
      this.apiCalls++;
      const t = order.topupId ? await this.client.mobile.checkId(order.topupId) : await this.client.mobile.checkRef(order.ref);
      await this.apply(order, t, 1, now);
    } catch (err) {
      if (err instanceof NotFoundError && order.status === 'SENDING' && now - order.createdAt >= this.opts.sendGraceMs) {
        // The send never created a top-up: a definite no.
        await this.store.applyStatus(order.id, 'SENDING', {
          status: 'REJECTED', refundMessage: null, suggestedOffers: null, apiCreatedAt: null, nextCheckAt: null, lastError: 'NOT_FOUND: the send never reached the API',
        }, now);
        return;
      }
      const retryable = err instanceof ConnectionError || (err instanceof APIError && (err.status === 429 || err.status >= 500));
      await this.store.recordCheck(order.id, now + (retryable ? 5_000 : 60_000), now, null, 1);
      this.options.logger?.warn({ orderId: order.id, err: (err as Error).message }, 'status check failed');
    }
  }

  /**
   * Bring one stored order in line with what the API said. `now`: when the poll started (the
   * schedule counts from there); the change itself is dated when the answer came. A webhook keeps
   * the order's next check as it was (`keepSchedule`): rescheduling each order on its own would
   * scatter the checks that one list page answers together.
   */
  private async apply(order: KitOrder, t: Topup, calls: number, now = this.clock.now(), keepSchedule = false): Promise<void> {
    const apiCreatedAt = Date.parse(t.created_at) || null;
    const status = t.status as KitStatus;
    const nextAt = FINAL.has(status) ? null : keepSchedule ? order.nextCheckAt : nextCheckAt(this.schedule, order.createdAt, now);
    if (status === order.status && t._id === order.topupId) {
      await this.store.recordCheck(order.id, nextAt, now, apiCreatedAt, calls);
      return;
    }
    const moved = await this.store.applyStatus(order.id, order.status, {
      status,
      topupId: t._id,
      refundMessage: t.refund_message ?? null,
      suggestedOffers: t.suggested_offers ?? null,
      apiCreatedAt,
      nextCheckAt: nextAt,
    }, this.clock.now());
    if (moved && calls > 0) await this.store.recordCheck(order.id, nextAt, now, apiCreatedAt, calls);
    if (moved && FINAL.has(status)) await this.deliverEvents();
  }

  /**
   * A webhook delivery (the raw body and the headers): verified with `webhookSecret` (throws
   * WebhookVerificationError when it is not shahn's), then applied to the order it names when it moves
   * the order forward. A repeated, late or out-of-order event changes nothing ('stale'); an event for
   * an order this kit did not send is 'unknown-order'. Hooks run exactly once, as with polling.
   */
  async handleWebhook(rawBody: string | Uint8Array, headers: Parameters<typeof verifyWebhook>[1]): Promise<'applied' | 'stale' | 'unknown-order' | 'ping'> {
    const secret = this.options.webhookSecret;
    if (!secret) throw new ShahnError('handleWebhook needs the webhookSecret option');
    const event = verifyWebhook(rawBody, headers, secret);
    if (event.type === 'ping') return 'ping';
    const t = event.data;
    const order = await this.store.getOrderByRef(t.ref);
    if (!order) return 'unknown-order';
    if ((RANK[t.status] ?? -1) <= (RANK[order.status] ?? 0)) return 'stale';
    await this.apply(order, t, 0, this.clock.now(), true);
    return 'applied';
  }

  /** The daily job: recheck UNKNOWN_ERROR orders older than recheckAfterMs; returns how many changed. */
  async recheckUncertain(): Promise<number> {
    const now = this.clock.now();
    let changed = 0;
    for (const order of await this.store.uncertainBefore(now - this.opts.recheckAfterMs)) {
      if (!order.topupId) continue;
      try {
        this.apiCalls++;
        const t = await this.client.mobile.checkId(order.topupId);
        if (t.status !== 'UNKNOWN_ERROR') changed++;
        await this.apply(order, t, 1);
      } catch (err) {
        this.options.logger?.warn({ orderId: order.id, err: (err as Error).message }, 'recheck failed; next run tries again');
      }
    }
    await this.deliverEvents();
    return changed;
  }

  /** Call the hooks of recorded transitions; returns how many were delivered. */
  async deliverEvents(): Promise<number> {
    const now = this.clock.now();
    for (const e of await this.store.interruptExpiredEvents(now)) {
      this.options.logger?.error({ orderId: e.orderId, transition: e.transition }, 'a hook was interrupted (its process stopped while it ran): not called again; check it and use redeliver() if it did not take effect');
    }
    let delivered = 0;
    for (;;) {
      // One event per claim: each hook's lease starts when it is about to run, so a slow hook before it cannot use it up.
      const events = await this.store.claimEvents(this.instanceId, this.clock.now(), this.opts.hookLeaseMs, 1);
      if (events.length === 0) return delivered;
      for (const e of events) {
        try {
          await this.callHook(e);
          await this.store.completeEvent(e.orderId, e.transition, this.instanceId, this.clock.now());
          delivered++;
        } catch (err) {
          const delay = Math.min(10 * 60_000, this.opts.hookRetryMs * 2 ** (e.attempts - 1));
          await this.store.failEvent(e.orderId, e.transition, this.instanceId, this.clock.now() + delay, (err as Error).message ?? String(err));
          this.options.logger?.warn({ orderId: e.orderId, transition: e.transition, attempt: e.attempts, retryInMs: delay, err: (err as Error).message }, 'hook threw; it will be retried');
        }
      }
    }
  }

  private async callHook(e: KitEvent): Promise<void> {
    const t: Transition = e.transition;
    if (t === 'FULFILLED') await this.hooks.onFulfilled?.(e.order);
    else if (t === 'REFUNDED') await this.hooks.onRefunded?.(e.order, { refund_message: e.order.refundMessage, suggested_offers: e.order.suggestedOffers });
    else await this.hooks.onUncertain?.(e.order);
  }

  /** Run the poller and hook delivery every tickMs, and the recheck job on its cron schedule. */
  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.running ??= (async () => {
        try {
          await this.pollOnce();
          await this.deliverEvents();
        } catch (err) {
          this.options.logger?.error({ err: (err as Error).message }, 'sync tick failed');
        }
      })().finally(() => {
        this.running = undefined;
      });
    };
    this.timer = setInterval(tick, this.opts.tickMs);
    tick();
    this.cron = new Cron(this.opts.recheckCron, { protect: true }, async () => {
      try {
        await this.recheckUncertain();
      } catch (err) {
        this.options.logger?.error({ err: (err as Error).message }, 'recheck job failed');
      }
    });
  }

  /** When the recheck job runs next (null when stopped). */
  nextRecheck(): Date | null {
    return this.cron?.nextRun() ?? null;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.cron?.stop();
    this.cron = undefined;
    await this.running;
  }
}
