/** The plan catalogue is data: a JSON file, checked here field by field. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { costToPpm } from '../lib/money.js';
import type { OperatorRecord, PlanRecord } from '../store/store.js';

export const DEFAULT_CATALOGUE_PATH = fileURLToPath(new URL('../../catalogue/default.json', import.meta.url));

export class CatalogueError extends Error {}

const HEALTH_KEYS = ['mobilis', 'djezzy', 'ooredoo', 'mobilisFixedPlans'] as const;

function fail(where: string, what: string): never {
  throw new CatalogueError(`catalogue ${where}: ${what}`);
}

function wholeDzd(v: unknown, where: string, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(where, `${field} must be a positive whole number of DZD`);
  return v;
}

export function parseCatalogue(raw: unknown): { operators: OperatorRecord[]; plans: PlanRecord[] } {
  if (typeof raw !== 'object' || raw === null) fail('file', 'must be a JSON object');
  const { operators, plans } = raw as { operators?: unknown; plans?: unknown };
  if (!Array.isArray(operators) || !Array.isArray(plans)) fail('file', 'needs "operators" and "plans" arrays');

  const ops: OperatorRecord[] = operators.map((o: Record<string, unknown>, i) => {
    const where = `operators[${i}]`;
    if (typeof o.name !== 'string' || !o.name) fail(where, 'name is required');
    if (!Array.isArray(o.prefixes) || !o.prefixes.every((p) => typeof p === 'string' && /^0[0-9]$/.test(p))) {
      fail(where, 'prefixes must be an array like ["06"]');
    }
    if (!HEALTH_KEYS.includes(o.healthKey as (typeof HEALTH_KEYS)[number])) fail(where, `healthKey must be one of ${HEALTH_KEYS.join(', ')}`);
    return { name: o.name, prefixes: o.prefixes as string[], healthKey: o.healthKey as OperatorRecord['healthKey'] };
  });
  const names = new Set(ops.map((o) => o.name));

  const seen = new Set<string>();
  const out: PlanRecord[] = plans.map((p: Record<string, unknown>, i) => {
    const where = `plans[${i}]`;
    if (typeof p.code !== 'string' || !/^[A-Za-z0-9_]{1,64}$/.test(p.code)) fail(where, 'code must be 1-64 letters, digits or _');
    if (seen.has(p.code)) fail(where, `duplicate code ${p.code}`);
    seen.add(p.code);
    if (typeof p.name !== 'string' || !p.name) fail(where, 'name is required');
    if (typeof p.operator !== 'string' || !names.has(p.operator)) fail(where, 'operator must name an operator of the file');
    if (p.cost !== undefined && (typeof p.cost !== 'number' || p.cost <= 0 || p.cost > 10)) fail(where, 'cost must be a positive multiplier');
    const common = {
      code: p.code,
      name: p.name,
      operator: p.operator,
      costPpm: p.cost === undefined ? null : costToPpm(p.cost as number),
      isEnabled: p.isEnabled === undefined ? true : p.isEnabled === true,
      isMenu: p.menu === true,
      position: i,
    };
    if (p.kind === 'dynamic') {
      const min = wholeDzd(p.min_amount, where, 'min_amount');
      const max = wholeDzd(p.max_amount, where, 'max_amount');
      if (min > max) fail(where, 'min_amount must not exceed max_amount');
      return { ...common, kind: 'dynamic', minAmount: min, maxAmount: max, amount: null };
    }
    if (p.kind === 'fixed') {
      return { ...common, kind: 'fixed', minAmount: null, maxAmount: null, amount: wholeDzd(p.amount, where, 'amount') };
    }
    return fail(where, 'kind must be "dynamic" or "fixed"');
  });
  return { operators: ops, plans: out };
}

export function loadCatalogueFile(path: string = DEFAULT_CATALOGUE_PATH): { operators: OperatorRecord[]; plans: PlanRecord[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CatalogueError(`cannot read the catalogue file ${path}: ${(err as Error).message}`);
  }
  try {
    return parseCatalogue(JSON.parse(text));
  } catch (err) {
    if (err instanceof CatalogueError) throw err;
    throw new CatalogueError(`the catalogue file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}
