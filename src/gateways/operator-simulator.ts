/**
 * The operator simulator: the default gateway for production keys (demos, load and fault tests).
 * Per operator: a latency distribution, outcome rates and an up/down switch; per number: forced
 * outcomes. Configurable from a JSON file and at runtime (admin API). It counts calls per order
 * (and can log each call to a file before "sending", and its answer after), so a test can prove no
 * order was sent twice and no refund came without a definitive answer.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { MESSAGES } from '@shahn/contract/core';
import type { Catalogue } from '../domain/catalogue-cache.js';
import type { Gateway, GatewayOffer, GatewayOutcome, GatewayRequest, GatewayTarget, HealthKey, SendContext } from './gateway.js';

export const OUTCOMES = ['fulfilled', 'wrongNumber', 'planMismatch', 'timeout', 'garbled'] as const;
export type SimOutcome = (typeof OUTCOMES)[number];

export interface LatencyConfig {
  /** Uniform between min and max milliseconds. */
  min: number;
  max: number;
}

export interface OperatorSimConfig {
  latencyMs: LatencyConfig;
  /** Relative weights of each outcome (they need not sum to 1). */
  rates: Record<SimOutcome, number>;
  down: boolean;
}

export interface SimulatorConfig {
  seed: number;
  operators: Record<HealthKey, OperatorSimConfig>;
  /** Forced outcomes for given numbers (for demos and tests). */
  numbers: Record<string, SimOutcome>;
}

export const HEALTH_KEYS: readonly HealthKey[] = ['mobilis', 'djezzy', 'ooredoo', 'mobilisFixedPlans'];

export function defaultSimulatorConfig(): SimulatorConfig {
  const op = (): OperatorSimConfig => ({
    // The documented end-to-end 5–30 s.
    latencyMs: { min: 5_000, max: 30_000 },
    rates: { fulfilled: 0.9, wrongNumber: 0.03, planMismatch: 0.03, timeout: 0.02, garbled: 0.02 },
    down: false,
  });
  return { seed: 1, operators: { mobilis: op(), djezzy: op(), ooredoo: op(), mobilisFixedPlans: op() }, numbers: {} };
}

export class SimulatorConfigError extends Error {}

function num(v: unknown, where: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new SimulatorConfigError(`${where} must be a number ≥ ${min}`);
  return v;
}

/** Merge a partial config (from a file or the admin API) onto a base, checking every field. */
export function mergeSimulatorConfig(base: SimulatorConfig, patch: unknown): SimulatorConfig {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new SimulatorConfigError('simulator config must be an object');
  const p = patch as Record<string, unknown>;
  const next: SimulatorConfig = structuredClone(base);
  if (p.seed !== undefined) next.seed = Math.floor(num(p.seed, 'seed'));
  const applyOp = (key: HealthKey, raw: unknown, where: string) => {
    if (typeof raw !== 'object' || raw === null) throw new SimulatorConfigError(`${where} must be an object`);
    const o = raw as Record<string, unknown>;
    const target = next.operators[key];
    if (o.latencyMs !== undefined) {
      const l = o.latencyMs as Record<string, unknown>;
      const min = num(l?.min, `${where}.latencyMs.min`);
      const max = num(l?.max, `${where}.latencyMs.max`);
      if (max < min) throw new SimulatorConfigError(`${where}.latencyMs.max must be ≥ min`);
      target.latencyMs = { min, max };
    }
    if (o.rates !== undefined) {
      const r = o.rates as Record<string, unknown>;
      if (typeof r !== 'object' || r === null) throw new SimulatorConfigError(`${where}.rates must be an object`);
      for (const k of Object.keys(r)) {
        if (!(OUTCOMES as readonly string[]).includes(k)) throw new SimulatorConfigError(`${where}.rates.${k} is not an outcome (${OUTCOMES.join(', ')})`);
      }
      const rates = { ...target.rates };
      for (const k of OUTCOMES) if (r[k] !== undefined) rates[k] = num(r[k], `${where}.rates.${k}`);
      if (OUTCOMES.every((k) => rates[k] === 0)) throw new SimulatorConfigError(`${where}.rates must not all be 0`);
      target.rates = rates;
    }
    if (o.down !== undefined) {
      if (typeof o.down !== 'boolean') throw new SimulatorConfigError(`${where}.down must be true or false`);
      target.down = o.down;
    }
  };
  if (p.defaults !== undefined) for (const k of HEALTH_KEYS) applyOp(k, p.defaults, 'defaults');
  if (p.operators !== undefined) {
    if (typeof p.operators !== 'object' || p.operators === null) throw new SimulatorConfigError('operators must be an object');
    for (const [k, v] of Object.entries(p.operators)) {
      if (!(HEALTH_KEYS as readonly string[]).includes(k)) throw new SimulatorConfigError(`operators.${k}: operators are ${HEALTH_KEYS.join(', ')}`);
      applyOp(k as HealthKey, v, `operators.${k}`);
    }
  }
  if (p.numbers !== undefined) {
    if (typeof p.numbers !== 'object' || p.numbers === null) throw new SimulatorConfigError('numbers must be an object');
    for (const [n, o] of Object.entries(p.numbers as Record<string, unknown>)) {
      if (o === null) {
        delete next.numbers[n];
        continue;
      }
      if (!(OUTCOMES as readonly string[]).includes(o as string)) throw new SimulatorConfigError(`numbers.${n} must be one of ${OUTCOMES.join(', ')}`);
      next.numbers[n] = o as SimOutcome;
    }
  }
  return next;
}

export function loadSimulatorConfigFile(path: string): SimulatorConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new SimulatorConfigError(`cannot read the simulator config ${path}: ${(err as Error).message}`);
  }
  return mergeSimulatorConfig(defaultSimulatorConfig(), raw);
}

/** mulberry32: a small seeded PRNG, so a seeded simulator replays the same outcomes. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    if (ms <= 0) return resolve();
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class OperatorSimulator implements Gateway {
  readonly name: string;
  private cfg: SimulatorConfig;
  private random: () => number;
  private readonly calls = new Map<string, number>();

  private readonly callLogPath: string | undefined;
  private readonly trackCalls: boolean;

  /**
   * `trackCalls` keeps a count per order in memory (tests; it grows with every order, so a long-running
   * server leaves it off and uses `callLogPath` when it needs proof).
   */
  constructor(
    private readonly catalogue: () => Promise<Catalogue>,
    config: SimulatorConfig = defaultSimulatorConfig(),
    options: { callLogPath?: string; trackCalls?: boolean; name?: string } = {},
  ) {
    this.name = options.name ?? 'simulator';
    this.callLogPath = options.callLogPath;
    this.trackCalls = options.trackCalls ?? true;
    this.cfg = config;
    this.random = seededRandom(config.seed);
  }

  describe(): string {
    return 'operator simulator';
  }

  config(): SimulatorConfig {
    return structuredClone(this.cfg);
  }

  /** Change the configuration at runtime (a partial config is merged). A new seed restarts the random sequence. */
  configure(patch: unknown): SimulatorConfig {
    const next = mergeSimulatorConfig(this.cfg, patch);
    if (next.seed !== this.cfg.seed) this.random = seededRandom(next.seed);
    this.cfg = next;
    return this.config();
  }

  isUp(target: GatewayTarget | HealthKey): boolean {
    return !this.cfg.operators[typeof target === 'string' ? target : target.healthKey].down;
  }

  /** How many times an order was sent to the operator (this process). */
  callsFor(orderId: string): number {
    return this.calls.get(orderId) ?? 0;
  }

  /** Orders sent more than once (this process). */
  duplicateCalls(): string[] {
    return [...this.calls].filter(([, n]) => n > 1).map(([id]) => id);
  }

  totalCalls(): number {
    let n = 0;
    for (const c of this.calls.values()) n += c;
    return n;
  }

  private pick(op: OperatorSimConfig, mssidn: string): SimOutcome {
    const forced = this.cfg.numbers[mssidn];
    if (forced) return forced;
    const total = OUTCOMES.reduce((s, k) => s + op.rates[k], 0);
    let x = this.random() * total;
    for (const k of OUTCOMES) {
      x -= op.rates[k];
      if (x < 0) return k;
    }
    return 'fulfilled';
  }

  /** Each call is logged as `call <orderId>` before it is made and `answer <orderId> <kind>` after. */
  async send(req: GatewayRequest, ctx: SendContext): Promise<GatewayOutcome> {
    if (!(await ctx.callStarting())) return { kind: 'NOT_SENT', reason: 'the lease was lost before the call' };
    const signal = ctx.signal;
    if (this.trackCalls) this.calls.set(req.orderId, (this.calls.get(req.orderId) ?? 0) + 1);
    if (this.callLogPath) appendFileSync(this.callLogPath, `call ${req.orderId}\n`);
    const outcome = await this.answer(req, signal);
    if (this.callLogPath) appendFileSync(this.callLogPath, `answer ${req.orderId} ${outcome.kind}\n`);
    return outcome;
  }

  private async answer(req: GatewayRequest, signal: AbortSignal): Promise<GatewayOutcome> {
    const op = this.cfg.operators[req.healthKey];
    const outcome = this.pick(op, req.mssidn);
    const latency = op.latencyMs.min + this.random() * (op.latencyMs.max - op.latencyMs.min);

    if (outcome === 'timeout') {
      // The operator never answers: wait until the processor gives up.
      await sleep(2 ** 31 - 1, signal);
      return { kind: 'UNKNOWN', reason: 'no answer from the operator' };
    }
    await sleep(latency, signal);
    if (op.down) return { kind: 'UNKNOWN', reason: 'the operator went down during the call' };

    if (req.isMenu) return { kind: 'REFUNDED', refundMessage: MESSAGES.OFFER_NOT_ACCEPTED, suggestedOffers: await this.menuFor(req) };
    switch (outcome) {
      case 'fulfilled':
        return { kind: 'FULFILLED' };
      case 'wrongNumber':
        return { kind: 'REFUNDED', refundMessage: MESSAGES.WRONG_NUMBER };
      case 'planMismatch':
        return { kind: 'REFUNDED', refundMessage: MESSAGES.PLAN_MISMATCH, suggestedOffers: await this.factureFor(req) };
      case 'garbled':
        return { kind: 'UNKNOWN', reason: 'garbled operator answer: "+CUSD: 2,"ERR#%"' };
    }
  }

  private async menuFor(req: GatewayRequest): Promise<GatewayOffer[]> {
    const offers: GatewayOffer[] = [];
    for (const p of (await this.catalogue()).plans.values()) {
      if (p.operator !== req.operator || p.isMenu || !p.isEnabled) continue;
      offers.push({ typename: p.name, plan_code: p.code, amount: p.kind === 'fixed' ? (p.amount ?? 0) : req.amount });
    }
    return offers;
  }

  private async factureFor(req: GatewayRequest): Promise<GatewayOffer[]> {
    for (const p of (await this.catalogue()).plans.values()) {
      if (p.operator === req.operator && p.code.startsWith('FACTURE_') && p.isEnabled) {
        return [{ typename: MESSAGES.FACTURE_TYPENAME, plan_code: p.code, amount: req.amount }];
      }
    }
    return [];
  }
}
