/** Operators and plans. */
import type { CatalogueStore, OperatorRecord } from '../store.js';
import { toPlan, type PlanRow } from '../rows.js';
import { all, one, run, type SqlDb } from '../sql.js';
import { insertAudit } from './common.js';

const PLAN_COLUMNS: Record<string, string> = { name: 'name', isEnabled: 'is_enabled', costPpm: 'cost_ppm', minAmount: 'min_amount', maxAmount: 'max_amount', amount: 'amount' };

export function makeCatalogueStore(db: SqlDb): CatalogueStore {
  const store: CatalogueStore = {
    listOperators: async () =>
      (await db.exec(all<{ name: string; prefixes: string; health_key: OperatorRecord['healthKey'] }>('SELECT name, prefixes, health_key FROM operators ORDER BY name'))).map((r) => ({
        name: r.name,
        prefixes: JSON.parse(r.prefixes) as string[],
        healthKey: r.health_key,
      })),
    listPlans: async () => (await db.exec(all<PlanRow>('SELECT * FROM plans ORDER BY position, code'))).map(toPlan),
    upsertCatalogue: (operators, plans) =>
      db.transaction(function* () {
        for (const o of operators) {
          yield* run(
            `INSERT INTO operators (name, prefixes, health_key) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET prefixes = excluded.prefixes, health_key = excluded.health_key`,
            [o.name, JSON.stringify(o.prefixes), o.healthKey],
          );
        }
        for (const p of plans) {
          yield* run(
            `INSERT INTO plans (code, name, operator, kind, cost_ppm, is_enabled, min_amount, max_amount, amount, is_menu, position)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, operator = excluded.operator, kind = excluded.kind, cost_ppm = excluded.cost_ppm,
               is_enabled = excluded.is_enabled, min_amount = excluded.min_amount, max_amount = excluded.max_amount, amount = excluded.amount,
               is_menu = excluded.is_menu, position = excluded.position`,
            [p.code, p.name, p.operator, p.kind, p.costPpm, p.isEnabled ? 1 : 0, p.minAmount, p.maxAmount, p.amount, p.isMenu ? 1 : 0, p.position],
          );
        }
      }),
    async updatePlan(code, patch, audit) {
      const found = await db.transaction(function* () {
        const args: unknown[] = [];
        const sets: string[] = [];
        for (const [k, col] of Object.entries(PLAN_COLUMNS)) {
          const v = (patch as Record<string, unknown>)[k];
          if (v !== undefined) sets.push(`${col} = $${args.push(typeof v === 'boolean' ? (v ? 1 : 0) : v)}`);
        }
        if (sets.length > 0) {
          if ((yield* one(`UPDATE plans SET ${sets.join(', ')} WHERE code = $${args.push(code)} RETURNING code`, args)) === undefined) return false;
          yield* insertAudit(audit);
        }
        return (yield* one('SELECT 1 AS found FROM plans WHERE code = $1', [code])) !== undefined;
      });
      return found ? (await store.listPlans()).find((p) => p.code === code) : undefined;
    },
  };
  return store;
}
