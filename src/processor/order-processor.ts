/**
 * The order processor: PENDING → HANDLING → FULFILLED | REFUNDED | UNKNOWN_ERROR.
 *
 * 1. Claim due PENDING orders with a lease (store.claimOrders).
 * 2. If the operator is down, put the order back (its call never started).
 * 3. Record "call started" (store.markCallStarted) BEFORE calling the gateway; a lost lease means no call.
 * 4. Call the gateway with a timeout; a throw, a timeout or an unclear answer is UNKNOWN.
 * 5. Record the outcome and its ledger effect in one transaction (store.recordOutcome).
 * Recovery (at start and periodically): an expired lease whose call started → UNKNOWN_ERROR and an
 * alert; one whose call never started → PENDING. Never a second send, never an automatic refund of an
 * uncertain order.
 */
import type { Log } from '../lib/log.js';
import type { Metrics } from '../lib/metrics.js';
import { MESSAGES } from '@shahn/contract/core';
import type { CatalogueCache } from '../domain/catalogue-cache.js';
import type { Gateway, GatewayOutcome } from '../gateways/gateway.js';
import type { Clock } from '../lib/clock.js';
import { newObjectId } from '../lib/ids.js';
import { auditRecord } from '../support/audit.js';
import { centimesToDzd, dzdToCentimes } from '../lib/money.js';
import type { OrderRecord, OutboxMessage, RecordedOutcome, Store } from '../store/store.js';
import { decideOutcome, refundNote } from '../domain/order-rules.js';

export interface ProcessorOptions {
  /** This worker's name in leases (unique per process). */
  owner: string;
  /** Gateway calls at once. */
  concurrency: number;
  /** A claim's lease; must exceed gatewayTimeoutMs. */
  leaseMs: number;
  gatewayTimeoutMs: number;
  /** How often an idle processor looks for work (it is also woken by notify()). */
  pollMs: number;
  /** How often expired leases are recovered. */
  recoveryEveryMs: number;
  /** An order for a down operator waits this long before it is tried again. */
  downRetryMs: number;
}

export interface ProcessorDeps {
  store: Store;
  clock: Clock;
  catalogue: CatalogueCache;
  gateway: Gateway;
  logger: Log;
  /** Called after an order became UNKNOWN_ERROR (the alert is already in the outbox). */
  onUncertain?: (order: OrderRecord) => void;
  /** Called after orders were claimed or an outcome recorded (their webhook events are in the outbox). */
  onChange?: () => void;
  /** Counts transitions and lease recoveries. */
  metrics?: Pick<Metrics, 'transition' | 'leaseRecoveries'>;
}

export type AlertTopic = 'UNKNOWN_ERROR' | 'LATE_ANSWER_CONTRADICTS' | 'CONFIRMATION_AMBIGUOUS';

const ALERT_EVENTS: Record<AlertTopic, string> = {
  UNKNOWN_ERROR: 'order.unknown_error',
  LATE_ANSWER_CONTRADICTS: 'order.late_answer_contradicts',
  CONFIRMATION_AMBIGUOUS: 'order.confirmation_ambiguous',
};

/** What a gateway's answer records for an order: FULFILLED; REFUNDED with its refund entry; anything else UNKNOWN_ERROR with an alert. */
export function recordedOf(order: OrderRecord, outcome: GatewayOutcome, now: number): RecordedOutcome {
  const trace = outcome.trace ? { trace: { channel: outcome.trace.channel ?? null, detail: outcome.trace.detail } } : {};
  if (outcome.kind === 'FULFILLED') return { status: 'FULFILLED', ...trace };
  if (outcome.kind === 'REFUNDED') {
    return {
      status: 'REFUNDED',
      refundMessage: outcome.refundMessage,
      suggestedOffers: outcome.suggestedOffers?.length ? outcome.suggestedOffers.map((o) => ({ typename: o.typename, plan_code: o.plan_code, amount: dzdToCentimes(o.amount) })) : null,
      refund: { id: newObjectId(now), note: refundNote(order) },
      ...trace,
    };
  }
  return { status: 'UNKNOWN_ERROR', refundMessage: MESSAGES.UNKNOWN_NOTICE, alert: makeAlert(order, now, outcome.reason), ...trace };
}

/** A support alert about an order, for the outbox (delivered by the alert dispatcher). */
export function makeAlert(order: OrderRecord, now: number, reason: string, kind: AlertTopic = 'UNKNOWN_ERROR'): OutboxMessage {
  return {
    id: newObjectId(now),
    kind: 'alert',
    topic: kind,
    subject: order.id,
    payload: {
      event: ALERT_EVENTS[kind],
      orderId: order.id,
      ref: order.ref,
      merchantId: order.merchantId,
      planCode: order.planCode,
      MSSIDN: order.mssidn,
      topupAmount: centimesToDzd(order.topupAmount),
      charge: centimesToDzd(order.charge),
      reason,
      at: new Date(now).toISOString(),
    },
    createdAt: now,
    attempts: 0,
    nextAttemptAt: now,
    deliveredAt: null,
    lastError: null,
  };
}

export class OrderProcessor {
  private running = false;
  private readonly inFlight = new Set<Promise<void>>();
  private wake: (() => void) | undefined;
  /** Set while the loop waits for a free slot: called (once per wait) when an order leaves inFlight. */
  private slotFreed: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private recoveryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: ProcessorDeps,
    readonly options: ProcessorOptions,
  ) {
    if (options.leaseMs <= options.gatewayTimeoutMs) {
      throw new Error(`the lease (${options.leaseMs} ms) must be longer than the gateway timeout (${options.gatewayTimeoutMs} ms)`);
    }
  }

  get active(): number {
    return this.inFlight.size;
  }

  /** Recover, then claim and process until stop(). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.recover();
    this.recoveryTimer = setInterval(() => {
      this.recover().catch((err: unknown) => this.deps.logger.error({ err }, 'lease recovery failed'));
    }, this.options.recoveryEveryMs);
    this.recoveryTimer.unref();
    this.loopDone = this.loop();
  }

  /** Stop claiming; wait for the calls in flight to be recorded. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.recoveryTimer) clearInterval(this.recoveryTimer);
    this.wake?.();
    await this.loopDone;
    await this.drain();
  }

  /** Something was queued: look now. */
  notify(): void {
    this.wake?.();
  }

  /** Wait until nothing is in flight. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let launched = 0;
      try {
        launched = await this.tick();
      } catch (err) {
        this.deps.logger.error({ err }, 'claiming orders failed');
      }
      if (!this.running) break;
      if (launched === 0 || this.inFlight.size >= this.options.concurrency) {
        await new Promise<void>((resolve) => {
          let settled = false;
          const done = () => {
            if (settled) return;
            settled = true;
            clearTimeout(t);
            if (this.wake === done) this.wake = undefined;
            if (this.slotFreed === onSlot) this.slotFreed = undefined;
            resolve();
          };
          const onSlot = () => setImmediate(done);
          const t = setTimeout(done, this.options.pollMs);
          // One callback instead of Promise.race over every order in flight (O(concurrency) reactions per wait).
          // setImmediate: let the answers of this loop turn free their slots, then claim them in one batch.
          if (this.inFlight.size >= this.options.concurrency) this.slotFreed = onSlot;
          this.wake = done;
        });
      } else {
        // Still room and still work: yield to I/O (HTTP requests in `shahn serve`) between claim batches.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }

  /** Claim what fits in the free slots and start processing it; returns how many were claimed. */
  async tick(): Promise<number> {
    const free = this.options.concurrency - this.inFlight.size;
    if (free <= 0) return 0;
    const now = this.deps.clock.now();
    // Claim at most 256 at a time: a claim of 10,000 (+ their markCallStarted) blocks the event loop for ~1 s.
    const orders = await this.deps.store.processing.claimOrders({ owner: this.options.owner, now, leaseMs: this.options.leaseMs, limit: Math.min(free, 256) });
    if (orders.length > 0) {
      this.deps.metrics?.transition('PRODUCTION', 'HANDLING', orders.length);
      this.deps.onChange?.();
    }
    for (const order of orders) {
      const p: Promise<void> = this.process(order)
        .catch((err: unknown) => this.deps.logger.error({ err, orderId: order.id }, 'processing an order failed; recovery will settle it'))
        .finally(() => {
          this.inFlight.delete(p);
          const freed = this.slotFreed;
          this.slotFreed = undefined;
          freed?.();
        });
      this.inFlight.add(p);
    }
    return orders.length;
  }

  /** Expired leases: back to PENDING if the call never started, else UNKNOWN_ERROR with an alert. */
  async recover(): Promise<{ requeued: string[]; uncertain: OrderRecord[] }> {
    const now = this.deps.clock.now();
    const result = await this.deps.store.processing.recoverExpiredLeases({
      now,
      refundMessage: MESSAGES.UNKNOWN_NOTICE,
      makeAlert: (order) => makeAlert(order, now, 'the worker lost its lease after the gateway call started (crash or stall)'),
    });
    this.deps.metrics?.leaseRecoveries(result.requeued.length, result.uncertain.length);
    this.deps.metrics?.transition('PRODUCTION', 'PENDING', result.requeued.length);
    this.deps.metrics?.transition('PRODUCTION', 'UNKNOWN_ERROR', result.uncertain.length);
    if (result.requeued.length > 0) this.deps.logger.warn({ orders: result.requeued }, 'recovered orders whose call never started: back to PENDING');
    for (const order of result.uncertain) this.announceUncertain(order, 'lease expired after the call started');
    return result;
  }

  /**
   * A definitive answer for an order that is already final. When it says otherwise than the decision
   * on record (support resolved REFUNDED and the operator now says FULFILLED, or the reverse), the
   * decision stays, and an alert and an audit record say so: support must settle it with the merchant.
   */
  private async reportContradiction(orderId: string, answer: 'FULFILLED' | 'REFUNDED', now: number): Promise<void> {
    const current = await this.deps.store.orders.findOrderAnywhere(orderId);
    if (!current || (current.status !== 'FULFILLED' && current.status !== 'REFUNDED') || current.status === answer) {
      this.deps.logger.warn({ orderId, outcome: answer, status: current?.status }, 'gateway answer not recorded: the lease was lost and the order moved on');
      return;
    }
    const reason = `the operator answered ${answer} after the order was already ${current.status}`;
    await this.deps.store.outbox.enqueueWithAudit(
      makeAlert(current, now, reason, 'LATE_ANSWER_CONTRADICTS'),
      auditRecord(now, `processor:${this.options.owner}`, 'order.late-answer-contradicts', orderId, reason, { answer, status: current.status }),
    );
    this.deps.logger.error({ alert: 'order.late_answer_contradicts', orderId, answer, status: current.status }, `ALERT: order ${orderId}: ${reason}; support must settle it`);
  }

  private announceUncertain(order: OrderRecord, reason: string): void {
    this.deps.logger.warn(
      { alert: 'order.unknown_error', orderId: order.id, ref: order.ref, merchantId: order.merchantId, reason },
      `ALERT: order ${order.id} is UNKNOWN_ERROR; support must resolve it`,
    );
    this.deps.onUncertain?.(order);
  }

  private async process(order: OrderRecord): Promise<void> {
    const { store, clock, gateway } = this.deps;
    const owner = this.options.owner;
    const catalogue = await this.deps.catalogue.get();
    const plan = catalogue.plans.get(order.planCode);
    const operator = plan ? catalogue.operators.get(plan.operator) : undefined;
    if (!plan || !operator) {
      // Cannot happen for an order the send path accepted, unless the catalogue lost the plan: leave it to support.
      await this.record(order, { kind: 'UNKNOWN', reason: `plan ${order.planCode} is no longer in the catalogue` });
      return;
    }
    if (!gateway.isUp({ operator: plan.operator, healthKey: operator.healthKey, planCode: plan.code })) {
      await this.recordOutcome(order.id, clock.now(), { status: 'PENDING', notBefore: clock.now() + this.options.downRetryMs });
      return;
    }
    // "Call started" is recorded when the gateway says its irrevocable step is next (callStarting): a
    // gateway that finds it cannot send before that (a SIM that fails its checks) answers NOT_SENT.
    let started = false;
    let leaseLost = false;
    const callStarting = async (channel?: string) => {
      if (started) {
        // A gateway that asks twice is about to make a second call for one order: refused.
        this.deps.logger.error({ orderId: order.id, channel }, `the gateway asked to start a second call for order ${order.id}; refused`);
        return false;
      }
      if (leaseLost) return false;
      started = await store.processing.markCallStarted({ orderId: order.id, owner, now: clock.now(), ...(channel !== undefined ? { channel } : {}) });
      leaseLost = !started;
      return started;
    };
    const controller = new AbortController();
    const deadline = Date.now() + this.options.gatewayTimeoutMs;
    const timer = setTimeout(() => controller.abort(new Error(`gateway timeout after ${this.options.gatewayTimeoutMs} ms`)), this.options.gatewayTimeoutMs);
    let outcome: GatewayOutcome;
    try {
      outcome = await gateway.send(
        {
          orderId: order.id,
          ref: order.ref,
          createdAt: order.createdAt,
          planCode: plan.code,
          operator: plan.operator,
          healthKey: operator.healthKey,
          mssidn: order.mssidn,
          amount: centimesToDzd(order.topupAmount),
          isMenu: plan.isMenu,
        },
        { signal: controller.signal, callStarting, remainingMs: () => Math.max(0, deadline - Date.now()) },
      );
    } catch (err) {
      outcome = { kind: 'UNKNOWN', reason: controller.signal.aborted ? String((controller.signal.reason as Error).message) : `gateway error: ${(err as Error).message}` };
    } finally {
      clearTimeout(timer);
    }
    if (leaseLost) return; // another worker has the order: no call was made, nothing to record
    if (outcome.kind === 'NOT_SENT' && !started) {
      await this.recordOutcome(order.id, clock.now(), { status: 'PENDING', notBefore: clock.now() + (outcome.retryInMs ?? 1000) });
      return;
    }
    if (!started) {
      // A gateway that answered without saying its call was starting: it did call. Record that first.
      started = await store.processing.markCallStarted({ orderId: order.id, owner, now: clock.now() });
      if (!started) return;
    }
    if (outcome.kind === 'NOT_SENT') outcome = { kind: 'UNKNOWN', reason: `the gateway said it did not send after its call had started: ${outcome.reason}`, ...(outcome.trace ? { trace: outcome.trace } : {}) };
    await this.record(order, outcome);
  }

  /** Record an outcome as the rules say given the order as it is then (domain/order-rules.ts). */
  private async recordOutcome(orderId: string, now: number, outcome: RecordedOutcome) {
    const result = await this.deps.store.processing.recordOutcome({ orderId, now, outcome, decide: (current) => decideOutcome(current, this.options.owner, outcome, now) });
    if (result !== 'ignored') this.deps.metrics?.transition('PRODUCTION', outcome.status);
    if (result !== 'ignored' && outcome.status !== 'PENDING') this.deps.onChange?.();
    return result;
  }

  private async record(order: OrderRecord, outcome: GatewayOutcome): Promise<void> {
    const now = this.deps.clock.now();
    const recorded = recordedOf(order, outcome, now);
    const result = await this.recordOutcome(order.id, now, recorded);
    if (result === 'ignored') {
      if (recorded.status === 'FULFILLED' || recorded.status === 'REFUNDED') await this.reportContradiction(order.id, recorded.status, now);
      else this.deps.logger.warn({ orderId: order.id, outcome: outcome.kind }, 'gateway answer not recorded: the lease was lost and the order moved on');
      return;
    }
    if (recorded.status === 'UNKNOWN_ERROR' && result === 'applied') {
      this.announceUncertain({ ...order, status: 'UNKNOWN_ERROR' }, outcome.kind === 'UNKNOWN' || outcome.kind === 'NOT_SENT' ? outcome.reason : '');
    }
  }
}
