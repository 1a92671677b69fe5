/**
 * Plans change rarely and are read on every send, so the catalogue is cached in the process and
 * reloaded from the store after ttlMs (or at once after an edit in this process).
 */
import type { PlansDataOut } from '@shahn/contract';
import type { Clock } from '../lib/clock.js';
import { ppmToCost } from '../lib/money.js';
import type { OperatorRecord, PlanRecord, Store } from '../store/store.js';

export interface Catalogue {
  plans: Map<string, PlanRecord>;
  operators: Map<string, OperatorRecord>;
  /** The /v3/mobile/plans body, built once per load. */
  wire: PlansDataOut;
}

export function catalogueToWire(plans: PlanRecord[]): PlansDataOut {
  const wire: PlansDataOut = { dynamicPlans: [], fixedPlans: [] };
  for (const p of plans) {
    const base = {
      code: p.code,
      name: p.name,
      operator: p.operator,
      ...(p.costPpm === null ? {} : { cost: ppmToCost(p.costPpm) }),
      isEnabled: p.isEnabled,
    };
    if (p.kind === 'dynamic') wire.dynamicPlans.push({ ...base, min_amount: p.minAmount ?? 0, max_amount: p.maxAmount ?? 0 });
    else wire.fixedPlans.push({ ...base, amount: p.amount ?? 0 });
  }
  return wire;
}

export class CatalogueCache {
  private current: { value: Catalogue; loadedAt: number } | undefined;
  private loading: Promise<Catalogue> | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly ttlMs = 5_000,
  ) {}

  async get(): Promise<Catalogue> {
    const c = this.current;
    if (c && this.clock.now() - c.loadedAt < this.ttlMs) return c.value;
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  invalidate(): void {
    this.current = undefined;
  }

  private async load(): Promise<Catalogue> {
    const [plans, operators] = await Promise.all([this.store.catalogue.listPlans(), this.store.catalogue.listOperators()]);
    const value: Catalogue = {
      plans: new Map(plans.map((p) => [p.code, p])),
      operators: new Map(operators.map((o) => [o.name, o])),
      wire: catalogueToWire(plans),
    };
    this.current = { value, loadedAt: this.clock.now() };
    return value;
  }
}
