/**
 * For the PostgreSQL project: build the migrated template database once; each test context clones
 * it (CREATE DATABASE … TEMPLATE), as graphile-worker's tests do.
 */
import pg from 'pg';
import { migrateStore } from '../src/runtime/open-store.js';
import { openPostgresStore } from '../src/store/postgres/open-postgres-store.js';
import { PG_TEMPLATE, TEST_PG_URL } from './helpers.js';

export default async function setup(): Promise<() => Promise<void>> {
  const admin = new pg.Client({ connectionString: TEST_PG_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${PG_TEMPLATE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${PG_TEMPLATE}`);
  const u = new URL(TEST_PG_URL);
  u.pathname = `/${PG_TEMPLATE}`;
  const store = openPostgresStore(u.toString(), { poolSize: 1 });
  await migrateStore(store);
  await store.close();
  // Leftover clones of crashed runs.
  const old = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'shahn\\_t\\_%'`);
  for (const r of old.rows) await admin.query(`DROP DATABASE IF EXISTS ${r.datname} WITH (FORCE)`);
  await admin.end();
  return async () => {
    const a = new pg.Client({ connectionString: TEST_PG_URL });
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${PG_TEMPLATE} WITH (FORCE)`);
    await a.end();
  };
}
