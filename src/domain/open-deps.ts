/**
 * Build the Deps of a process from its config: open and migrate the store, seed the catalogue on
 * a fresh store, wire the caches.
 */
import type { Config } from '../config.js';
import { loadCatalogueFile } from '../catalogue/load-catalogue-file.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { openSqliteStore } from '../store/sqlite/open-sqlite-store.js';
import type { Store } from '../store/store.js';
import { BruteForceGuard } from './brute-force-guard.js';
import { CatalogueCache } from './catalogue-cache.js';
import type { Deps } from './deps.js';
import { StaticGatewayHealth, type GatewayHealth } from './gateway-health.js';
import { KeyCache } from './key-cache.js';

export class StoreConfigError extends Error {}

export function openStore(config: Config): Store {
  if (/^postgres(ql)?:\/\//i.test(config.db)) {
    throw new StoreConfigError('PostgreSQL stores are not supported yet (SHAHN_DB must be a SQLite file path).');
  }
  return openSqliteStore(config.db);
}

/** Migrate, then load the catalogue file into a store that has no plans yet. */
export async function prepareStore(store: Store, catalogueFile?: string): Promise<void> {
  await store.migrate();
  if ((await store.listPlans()).length === 0) {
    const { operators, plans } = loadCatalogueFile(catalogueFile);
    await store.upsertCatalogue(operators, plans);
  }
}

export function buildDeps(
  config: Config,
  store: Store,
  options: { clock?: Clock; gatewayHealth?: GatewayHealth } = {},
): Deps {
  const clock = options.clock ?? systemClock;
  return {
    store,
    clock,
    config,
    catalogue: new CatalogueCache(store, clock),
    keys: new KeyCache(store, clock, config.keyCacheMs),
    bruteForce: new BruteForceGuard(clock),
    gatewayHealth: options.gatewayHealth ?? new StaticGatewayHealth(),
  };
}
