/**
 * `shahn migrate` on PostgreSQL, and serve's refusal of an unmigrated or newer-schema store.
 * Stores: PostgreSQL only: SQLite is migrated by `serve` itself (test/serve-startup.test.ts, test/cli.test.ts).
 */
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { migrateStore, prepareStore } from '../src/runtime/open-store.js';
import { LATEST_SCHEMA_VERSION } from '../src/store/migrations.js';
import { openPostgresStore } from '../src/store/postgres/open-postgres-store.js';
import { TEST_PG_URL } from './helpers.js';
import { BIN, ROOT } from './serve-process.js';

describe('PostgreSQL schema management', () => {
  const name = `shahn_t_${inject('pgRun')}_m${randomBytes(5).toString('hex')}`;
  let url: string;
  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: TEST_PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(TEST_PG_URL);
    u.pathname = `/${name}`;
    url = u.toString();
  });
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: TEST_PG_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  const cli = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, SHAHN_DB: url, SHAHN_LOG_LEVEL: 'warn', PORT: '0' }, encoding: 'utf8', timeout: 60_000 });

  it('serve refuses an unmigrated store; migrate applies every migration once; serve refuses a newer schema', async () => {
    const refused = cli(['serve']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/schema is version 0; this shahn needs \d+\. Run `shahn migrate`/);

    const first = cli(['migrate']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain(`Migrated the postgres store from schema 0 to ${LATEST_SCHEMA_VERSION}.`);
    const again = cli(['migrate']);
    expect(again.stdout).toContain(`up to date (schema ${LATEST_SCHEMA_VERSION})`);

    const store = openPostgresStore(url, { poolSize: 1 });
    try {
      await prepareStore(store); // migrated: accepted
      expect((await store.catalogue.listPlans()).length).toBeGreaterThan(10);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', 0)`);
      await c.end();
      await expect(prepareStore(store)).rejects.toThrow(/newer than this shahn/);
      await expect(migrateStore(store)).rejects.toThrow(/newer than this shahn/);
    } finally {
      await store.close();
    }
    const newer = cli(['serve']);
    expect(newer.status).toBe(1);
    expect(newer.stderr).toMatch(/newer than this shahn/);
  }, 120_000);
});
