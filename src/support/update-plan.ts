/** Edit a plan (enable/disable, cost, range, amount, name), audited; the catalogue cache reloads at once. */
import { AppError, validationError } from '@shahn/contract/core';
import type { Deps } from '../domain/deps.js';
import { catalogueToWire } from '../domain/catalogue-cache.js';
import { costToPpm } from '../lib/money.js';
import type { PlanRecord } from '../store/store.js';
import { auditRecord } from './audit.js';

export interface PlanPatch {
  name?: unknown;
  isEnabled?: unknown;
  cost?: unknown;
  min_amount?: unknown;
  max_amount?: unknown;
  amount?: unknown;
}

function wholeDzd(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 10_000_000) throw validationError('body', field, 'must be a positive whole number of DZD', v, 'type');
  return v;
}

export async function updatePlan(deps: Pick<Deps, 'store' | 'clock' | 'catalogue'>, options: { actor: string; code: string; patch: PlanPatch; reason?: string }) {
  const plan = (await deps.store.catalogue.listPlans()).find((p) => p.code === options.code);
  if (!plan) throw new AppError('NOT_FOUND', `Plan '${options.code}' not found`);
  const p = options.patch;
  const patch: Partial<Pick<PlanRecord, 'name' | 'isEnabled' | 'costPpm' | 'minAmount' | 'maxAmount' | 'amount'>> = {};
  if (p.name !== undefined) {
    if (typeof p.name !== 'string' || !p.name.trim() || p.name.length > 200) throw validationError('body', 'name', 'must be a non-empty string', p.name, 'type');
    patch.name = p.name;
  }
  if (p.isEnabled !== undefined) {
    if (typeof p.isEnabled !== 'boolean') throw validationError('body', 'isEnabled', 'must be boolean', p.isEnabled, 'type');
    patch.isEnabled = p.isEnabled;
  }
  if (p.cost !== undefined) {
    if (p.cost !== null && (typeof p.cost !== 'number' || !(p.cost > 0 && p.cost <= 10))) throw validationError('body', 'cost', 'must be a positive multiplier, or null for 1', p.cost, 'type');
    patch.costPpm = p.cost === null ? null : costToPpm(p.cost);
  }
  if (plan.kind === 'dynamic') {
    if (p.amount !== undefined) throw validationError('body', 'amount', 'applies to fixed plans only', p.amount, 'kind');
    if (p.min_amount !== undefined) patch.minAmount = wholeDzd(p.min_amount, 'min_amount');
    if (p.max_amount !== undefined) patch.maxAmount = wholeDzd(p.max_amount, 'max_amount');
    if ((patch.minAmount ?? plan.minAmount ?? 0) > (patch.maxAmount ?? plan.maxAmount ?? 0)) {
      throw validationError('body', 'min_amount', 'must not exceed max_amount', patch.minAmount ?? plan.minAmount, 'range');
    }
  } else {
    if (p.min_amount !== undefined || p.max_amount !== undefined) throw validationError('body', 'min_amount', 'applies to dynamic plans only', p.min_amount ?? p.max_amount, 'kind');
    if (p.amount !== undefined) patch.amount = wholeDzd(p.amount, 'amount');
  }
  const now = deps.clock.now();
  const updated = await deps.store.catalogue.updatePlan(plan.code, patch, auditRecord(now, options.actor, 'plan.update', plan.code, options.reason ?? '', { ...p }));
  if (!updated) throw new AppError('NOT_FOUND', `Plan '${options.code}' not found`);
  deps.catalogue.invalidate();
  const wire = catalogueToWire([updated]);
  return wire.dynamicPlans[0] ?? wire.fixedPlans[0];
}
