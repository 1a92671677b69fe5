/**
 * Opening the configured store: SQLite or PostgreSQL by SHAHN_DB, migrated (SQLite on the spot,
 * PostgreSQL by `shahn migrate`), the catalogue loaded into a fresh one, and one clear line when it
 * cannot be opened.
 */
import type { Config } from '../config.js';
import { loadCatalogueFile } from '../catalogue/load-catalogue-file.js';
import { openSqliteStore } from '../store/sqlite/open-sqlite-store.js';
import { openPostgresStore } from '../store/postgres/open-postgres-store.js';
import { LATEST_SCHEMA_VERSION } from '../store/migrations.js';
import { SchemaVersionError, StoreOpenError, StoreUnavailableError, type Store } from '../store/store.js';

export class StoreConfigError extends Error {}

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/** A store location fit for a log line or an error: a PostgreSQL URL without its password. */
export function describeStore(db: string): string {
  return db.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}

/**
 * Open the configured store and make it ready: `prepare` for serve and worker (prepareStore), or
 * `migrate` for `shahn migrate`. A store that cannot be opened or reached is one clear line naming
 * it (StoreOpenError), never a stack trace; the store is closed again on failure.
 */
export async function openReadyStore(config: Config, mode: 'prepare' | 'migrate' = 'prepare'): Promise<{ store: Store; migrated?: { from: number; to: number } }> {
  const store = openStore(config);
  try {
    if (mode === 'migrate') return { store, migrated: await migrateStore(store, config.catalogue) };
    await prepareStore(store, config.catalogue);
    return { store };
  } catch (err) {
    await store.close().catch(() => undefined);
    if (err instanceof StoreUnavailableError) {
      throw new StoreOpenError(
        `Cannot reach the PostgreSQL store at ${describeStore(config.db)}: ${err.message.replace(/^the database is unavailable: /, '')}. Check that PostgreSQL runs there, that the database exists and that SHAHN_DB is right.`,
      );
    }
    throw err;
  }
}

export function openStore(config: Config): Store {
  if (isPostgresUrl(config.db)) {
    return openPostgresStore(config.db, { poolSize: config.pgPoolSize, statementTimeoutMs: config.pgStatementTimeoutMs, connectTimeoutMs: config.pgConnectTimeoutMs });
  }
  return openSqliteStore(config.db, { orderCacheSize: config.checkIdCacheSize });
}

/** Apply migrations and load the catalogue file into a store that has no plans yet (`shahn migrate`). */
export async function migrateStore(store: Store, catalogueFile?: string): Promise<{ from: number; to: number }> {
  const r = await store.migrate();
  if ((await store.catalogue.listPlans()).length === 0) {
    const { operators, plans } = loadCatalogueFile(catalogueFile);
    await store.catalogue.upsertCatalogue(operators, plans);
  }
  return r;
}

/**
 * Before serving: an embedded SQLite store is migrated on the spot (a newcomer's `npm start` just
 * works); a PostgreSQL store must have been migrated by `shahn migrate` (many processes start
 * against it; one deliberate step changes its schema).
 */
export async function prepareStore(store: Store, catalogueFile?: string): Promise<void> {
  if (store.kind === 'sqlite') {
    await migrateStore(store, catalogueFile);
    return;
  }
  const version = await store.schemaVersion();
  if (version > LATEST_SCHEMA_VERSION) {
    throw new SchemaVersionError(`The store's schema is version ${version}, newer than this shahn (${LATEST_SCHEMA_VERSION}). Upgrade shahn.`);
  }
  if (version < LATEST_SCHEMA_VERSION) {
    throw new StoreConfigError(
      `The store's schema is version ${version}; this shahn needs ${LATEST_SCHEMA_VERSION}. Run \`shahn migrate\` (with the same SHAHN_DB) first.`,
    );
  }
  if ((await store.catalogue.listPlans()).length === 0) {
    const { operators, plans } = loadCatalogueFile(catalogueFile);
    await store.catalogue.upsertCatalogue(operators, plans);
  }
}
