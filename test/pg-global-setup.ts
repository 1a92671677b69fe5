/**
 * For the PostgreSQL project: build this run's migrated template database once; each test context
 * clones it (CREATE DATABASE … TEMPLATE), as graphile-worker's tests do. Every database of a run is
 * named after the run (`shahn_tpl_<run>`, `shahn_t_<run>_<random>`, the run being its start time and
 * pid), so two runs on one server never touch each other's; leftovers of runs that crashed more than
 * six hours ago are dropped.
 */
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrateStore } from '../src/runtime/open-store.js';
import { openPostgresStore } from '../src/store/postgres/open-postgres-store.js';
import { pgUrlFor, TEST_PG_URL } from './pg-names.js';

const STALE_MS = 6 * 3600_000;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const run = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const template = `shahn_tpl_${run}`;
  const admin = new pg.Client({ connectionString: TEST_PG_URL });
  await admin.connect();
  const old = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname ~ '^shahn_(t|tpl)_[0-9a-z]+'`);
  for (const { datname } of old.rows) {
    const started = parseInt(/^shahn_(?:t|tpl)_([0-9a-z]{8})/.exec(datname)?.[1] ?? '', 36);
    if (Number.isFinite(started) && Date.now() - started > STALE_MS) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  }
  await admin.query(`CREATE DATABASE ${template}`);
  const store = openPostgresStore(pgUrlFor(template), { poolSize: 1 });
  await migrateStore(store);
  await store.close();
  await admin.end();
  project.provide('pgRun', run);
  return async () => {
    const a = new pg.Client({ connectionString: TEST_PG_URL });
    await a.connect();
    const mine = await a.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2`, [`shahn\\_t\\_${run}\\_%`, template]);
    for (const { datname } of mine.rows) await a.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await a.end();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgRun: string;
  }
}
