/**
 * The `modem` gateway: a pool of retailer SIMs in GSM modems. The SIMs of one operator share its
 * orders: an order takes an idle SIM that can afford it (the least recently used), or waits in a
 * first-come queue for one; a SIM that fails its checks before dialling hands the order to the next.
 * Nothing is dialled when no SIM can take the order in time: the order goes back to PENDING.
 *
 * One process drives the modems (the one that runs the order processor next to them). The others
 * see the SIMs as that process publishes them (`ModemChannelsView`), for /v3/ping and the console.
 */
import { MESSAGES } from '@shahn/contract/core';
import type { Log } from '../../lib/log.js';
import type { ChannelRecord } from '../../store/store.js';
import { CHANNEL_STALE_MS, type Gateway, type GatewayOutcome, type GatewayRequest, type GatewayTarget, type SendContext } from '../gateway.js';
import { templateFor, type ModemGatewaySettings } from './modem-config.js';
import { SimWorker, type SimMessage, type SimStatus } from './sim.js';

/** One SIM as the pool publishes it. */
export interface ChannelSnapshot {
  channel: string;
  operator: string;
  usable: boolean;
  status: SimStatus & { busyMs: number; dials: number };
}

export interface ModemPoolHooks {
  log: Log;
  now(): number;
  /** Publish the SIMs' states (to the store, for every process). */
  publish(channels: ChannelSnapshot[]): Promise<void>;
  /** A support alert about a SIM (to the outbox). */
  alert(topic: string, sim: string, payload: Record<string, unknown>): Promise<void>;
  /** A message read from a SIM; resolves once it is durably handled ('keep': leave it on the SIM for now). */
  message(message: SimMessage & { gateway: string }): Promise<'keep' | void>;
  /** How long ago the latest call through `sim` without an answer started, within `withinMs`; null when none. */
  unansweredCallAgo(sim: string, withinMs: number): Promise<number | null>;
}

export interface ModemPoolOptions {
  /** How long an order may wait for a free SIM before it goes back to PENDING (ms). */
  queueWaitMs: number;
  /** How often idle SIMs do their housekeeping (reconnect, balance, messages) (ms). */
  tickMs?: number;
  /** How often the SIMs are published even when nothing changed (ms). */
  publishEveryMs?: number;
}

interface Waiter {
  operator: string;
  amount: number;
  exclude: ReadonlySet<SimWorker>;
  resolve(sim: SimWorker | undefined): void;
}

/** Longest wait of the pool's checks before a dial (two AT commands of 5 s) and after an answer (1 s). */
export const MODEM_STEP_ALLOWANCE_MS = 11_000;

export class ModemPool implements Gateway {
  readonly sims: SimWorker[];
  private readonly waiters: Waiter[] = [];
  private readonly busySince = new Map<SimWorker, number>();
  private readonly busyMs = new Map<SimWorker, number>();
  private readonly dials = new Map<SimWorker, number>();
  private tickTimer: NodeJS.Timeout | undefined;
  private publishTimer: NodeJS.Timeout | undefined;
  private publishSoon: NodeJS.Timeout | undefined;
  private publishing: Promise<void> = Promise.resolve();
  /** SIMs doing their housekeeping now (each on its own: one SIM's balance read never holds up another's reconnect). */
  private readonly maintaining = new Set<SimWorker>();
  private stopped = false;

  constructor(
    readonly name: string,
    readonly settings: ModemGatewaySettings,
    private readonly hooks: ModemPoolHooks,
    private readonly options: ModemPoolOptions,
  ) {
    this.sims = settings.sims.map(
      (sim) =>
        new SimWorker(sim, settings.operators[sim.operator]!, settings, {
          log: hooks.log,
          now: hooks.now,
          changed: () => this.changed(),
          alert: (topic, payload) => {
            hooks.alert(topic, sim.name, { gateway: name, sim: sim.name, operator: sim.operator, device: sim.device, ...payload }).catch((err: unknown) => hooks.log.error({ err, sim: sim.name, topic }, 'could not record a SIM alert'));
          },
          message: (m) => hooks.message({ ...m, gateway: name }),
          unansweredCallAgo: (withinMs) => hooks.unansweredCallAgo(sim.name, withinMs),
        }),
    );
  }

  /** Open and initialise every SIM (in parallel); SIMs that fail are out of rotation and tried again later. */
  async start(): Promise<void> {
    await Promise.all(this.sims.map((s) => s.connect()));
    this.tickTimer = setInterval(() => this.tick(), this.options.tickMs ?? 1_000);
    this.tickTimer.unref();
    this.publishTimer = setInterval(() => this.schedulePublish(0), this.options.publishEveryMs ?? 5_000);
    this.publishTimer.unref();
    this.dispatch();
    this.schedulePublish(0);
    await this.publishing;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.tickTimer);
    clearInterval(this.publishTimer);
    clearTimeout(this.publishSoon);
    for (const w of this.waiters.splice(0)) w.resolve(undefined);
    await Promise.all(this.sims.map((s) => s.stop()));
    await this.publishing;
    await this.publish();
  }

  isUp(target: GatewayTarget): boolean {
    return this.sims.some((s) => s.operator === target.operator && s.usable);
  }

  describe(): string {
    const ready = this.sims.filter((s) => s.usable).length;
    return `modem pool, ${ready} of ${this.sims.length} SIMs ready (${[...new Set(this.sims.map((s) => s.operator))].join(', ')})`;
  }

  async send(request: GatewayRequest, ctx: SendContext): Promise<GatewayOutcome> {
    const op = this.settings.operators[request.operator];
    if (!op) return { kind: 'NOT_SENT', reason: `the modem gateway ${this.name} has no codes for ${request.operator}`, retryInMs: 60_000 };
    if (request.isMenu) {
      // USSD has no menu of offers to answer a GETMENU plan with: refused, nothing dialled.
      return { kind: 'REFUNDED', refundMessage: MESSAGES.OFFER_NOT_ACCEPTED };
    }
    const template = templateFor(op, request.planCode);
    if (template === undefined) {
      // The routes are checked at start; a plan added to the catalogue since then has no code here.
      this.hooks.log.error({ gateway: this.name, plan: request.planCode, orderId: request.orderId }, `the modem gateway ${this.name} has no USSD code for the plan ${request.planCode}; refunded without dialling`);
      return { kind: 'REFUNDED', refundMessage: MESSAGES.REFUNDED_AFTER_REVIEW };
    }
    const tried = new Set<SimWorker>();
    let lastReason = '';
    for (;;) {
      const got = await this.acquire(request.operator, request.amount, tried, ctx.signal);
      if (!(got instanceof SimWorker)) return { kind: 'NOT_SENT', reason: lastReason ? `${got.reason} (${lastReason})` : got.reason, retryInMs: got.retryInMs };
      let result;
      try {
        result = await got.topUp(request, ctx, template);
        if (result.dialled) this.dials.set(got, (this.dials.get(got) ?? 0) + 1);
      } finally {
        this.release(got);
      }
      if (!result.retryElsewhere) return result.outcome;
      tried.add(got);
      lastReason = result.outcome.kind === 'NOT_SENT' ? result.outcome.reason : '';
    }
  }

  /** The SIMs as published: state, signal, balance, last answer, orders today, time busy. */
  snapshot(): ChannelSnapshot[] {
    const now = this.hooks.now();
    return this.sims.map((s) => {
      const since = this.busySince.get(s);
      return {
        channel: s.name,
        operator: s.operator,
        usable: s.usable,
        status: { ...s.status, busyMs: (this.busyMs.get(s) ?? 0) + (since === undefined ? 0 : now - since), dials: this.dials.get(s) ?? 0 },
      };
    });
  }

  private async acquire(operator: string, amount: number, exclude: ReadonlySet<SimWorker>, signal: AbortSignal): Promise<SimWorker | { reason: string; retryInMs: number }> {
    const mine = this.sims.filter((s) => s.operator === operator && !exclude.has(s));
    if (!mine.some((s) => s.usable)) return { reason: `no ${operator} SIM of ${this.name} is usable`, retryInMs: 5_000 };
    if (!mine.some((s) => s.usable && s.canAfford(amount))) return { reason: `every usable ${operator} SIM of ${this.name} has a balance under ${amount} DA`, retryInMs: 60_000 };
    const now = this.take(operator, amount, exclude);
    if (now) return now;
    if (signal.aborted) return { reason: 'the processor timed out', retryInMs: 1_000 };
    const sim = await new Promise<SimWorker | undefined>((resolve) => {
      const finish = (s: SimWorker | undefined) => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(s);
      };
      const waiter: Waiter = { operator, amount, exclude, resolve: finish };
      const onAbort = () => finish(undefined);
      this.waiters.push(waiter);
      const timer = setTimeout(() => finish(undefined), this.options.queueWaitMs);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    return sim ?? { reason: `every ${operator} SIM of ${this.name} stayed busy for ${this.options.queueWaitMs} ms`, retryInMs: 500 };
  }

  /** An idle SIM of the operator that can afford the amount, least recently used first; acquired. */
  private take(operator: string, amount: number, exclude: ReadonlySet<SimWorker>): SimWorker | undefined {
    let best: SimWorker | undefined;
    for (const s of this.sims) {
      if (s.operator !== operator || exclude.has(s) || !s.idle || !s.canAfford(amount)) continue;
      if (!best || s.lastUsedAt < best.lastUsedAt) best = s;
    }
    if (!best || !best.tryAcquire()) return undefined;
    this.busySince.set(best, this.hooks.now());
    return best;
  }

  private release(sim: SimWorker): void {
    const since = this.busySince.get(sim);
    if (since !== undefined) this.busyMs.set(sim, (this.busyMs.get(sim) ?? 0) + this.hooks.now() - since);
    this.busySince.delete(sim);
    sim.release();
    // Orders kept it busy past a balance or message read: that goes first, then the waiting orders.
    if (sim.housekeepingOverdue()) this.housekeep(sim);
    this.dispatch();
  }

  /** Hand idle SIMs to the orders waiting, first come first served. */
  private dispatch(): void {
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i]!;
      const sim = this.take(w.operator, w.amount, w.exclude);
      if (sim) w.resolve(sim); // and out of the list
      else i++;
    }
  }

  private tick(): void {
    for (const s of this.sims) this.housekeep(s);
    this.dispatch();
  }

  /** Start a SIM's housekeeping unless it is at it already; the waiting orders are served when it ends. */
  private housekeep(sim: SimWorker): void {
    if (this.stopped || this.maintaining.has(sim)) return;
    this.maintaining.add(sim);
    sim
      .maintain(!this.waiters.some((w) => w.operator === sim.operator))
      .catch((err: unknown) => this.hooks.log.warn({ sim: sim.name, err: (err as Error).message }, 'SIM housekeeping failed'))
      .finally(() => {
        this.maintaining.delete(sim);
        if (!this.stopped) this.dispatch();
      });
  }

  private changed(): void {
    if (!this.stopped) this.schedulePublish(200);
  }

  private schedulePublish(delayMs: number): void {
    if (this.publishSoon && delayMs > 0) return;
    clearTimeout(this.publishSoon);
    this.publishSoon = setTimeout(() => {
      this.publishSoon = undefined;
      this.publishing = this.publishing.then(() => this.publish());
    }, delayMs);
    this.publishSoon.unref();
  }

  private async publish(): Promise<void> {
    try {
      await this.hooks.publish(this.snapshot());
    } catch (err) {
      this.hooks.log.warn({ gateway: this.name, err: (err as Error).message }, 'could not publish the SIMs\' states');
    }
  }
}

/**
 * A modem gateway in a process that does not drive the modems: SIMs as their driver last published
 * them (refreshed every few seconds); an operator is up while one of its SIMs was usable recently.
 * It sends nothing.
 */
export class ModemChannelsView implements Gateway {
  private channels: ChannelRecord[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    private readonly read: () => Promise<ChannelRecord[]>,
    private readonly now: () => number,
    private readonly log: Log,
    private readonly refreshMs = 5_000,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
  }

  isUp(target: GatewayTarget): boolean {
    const fresh = this.now() - CHANNEL_STALE_MS;
    return this.channels.some((c) => c.operator === target.operator && c.usable && c.updatedAt >= fresh);
  }

  send(): Promise<GatewayOutcome> {
    return Promise.resolve({ kind: 'NOT_SENT', reason: `this process does not drive the modems of ${this.name}`, retryInMs: 5_000 });
  }

  describe(): string {
    return 'modem pool driven by the process that runs the order processor';
  }

  private async refresh(): Promise<void> {
    try {
      this.channels = await this.read();
    } catch (err) {
      this.log.warn({ gateway: this.name, err: (err as Error).message }, 'could not read the SIMs\' states');
    }
  }
}
