/**
 * Every way a PostgreSQL database can be there and yet unusable is answered 503 SERVICE_UNAVAILABLE
 * with retryAfter, never 500, and the API recovers on its own: connections refused by
 * `ALLOW_CONNECTIONS false` (SQLSTATE 55000) after the backends were terminated (57P01), a renamed
 * database (3D000), and backends terminated under load (the process survives the 'error' the server
 * sends to idle clients).
 *
 * Stores: PostgreSQL only: these are PostgreSQL's own failure modes; SQLite's (a locked or full file) are
 * covered by test/sqlite-disk-full.test.ts and the busy timeout.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { call, expectEnvelope, makeContext, TEST_PG_URL, TEST_STORE, type TestContext } from './helpers.js';

describe.runIf(TEST_STORE === 'postgres')('PostgreSQL that cannot be used: 503, then back on its own', () => {
  let ctx: TestContext;
  let admin: pg.Client;
  let name: string;
  beforeEach(async () => {
    ctx = await makeContext({ env: { SHAHN_PG_CONNECT_TIMEOUT_MS: '2000' } });
    name = new URL(ctx.db).pathname.slice(1);
    admin = new pg.Client({ connectionString: TEST_PG_URL });
    await admin.connect();
  });
  afterEach(async () => {
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin.end();
    await ctx.close();
  });

  /** End every connection to the test database (shahn's pool and the test's own). */
  const terminate = (db = name) => admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [db]);

  const requests = async (n: number) => {
    const replies = [];
    for (let i = 0; i < n; i++) {
      replies.push(await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey }));
      replies.push(await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 } }));
    }
    return replies;
  };

  const expectAll503 = (replies: Awaited<ReturnType<typeof requests>>) => {
    for (const r of replies) {
      expectEnvelope(r);
      expect(r.status, JSON.stringify(r.body)).toBe(503);
      expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
      expect(r.body.error.details.retryAfter).toBeGreaterThan(0);
    }
  };

  it('connections not allowed (55000) after the backends were terminated (57P01): 503, then 200 again', async () => {
    expect((await requests(1)).every((r) => r.status === 200)).toBe(true);
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await terminate();
    expectAll503(await requests(5));
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    const back = await requests(2);
    expect(back.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it('a renamed database (3D000): 503, then 200 when its name is back', async () => {
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await terminate();
    await admin.query(`ALTER DATABASE ${name} RENAME TO ${name}_moved`);
    await admin.query(`ALTER DATABASE ${name}_moved ALLOW_CONNECTIONS true`);
    try {
      expectAll503(await requests(5));
    } finally {
      await admin.query(`ALTER DATABASE ${name}_moved ALLOW_CONNECTIONS false`);
      await terminate(`${name}_moved`);
      await admin.query(`ALTER DATABASE ${name}_moved RENAME TO ${name}`);
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    }
    expect((await requests(1)).map((r) => r.status)).toEqual([200, 200]);
  });

  it('backends terminated again and again under load: never a 500, never a crash, nothing acknowledged lost', async () => {
    const acknowledged: string[] = [];
    const statuses = new Map<number, number>();
    let stop = false;
    const load = async () => {
      while (!stop) {
        const r = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 } });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200) acknowledged.push(r.body.data.topupId as string);
      }
    };
    const loops = Array.from({ length: 4 }, load);
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 50));
      await terminate();
    }
    stop = true;
    await Promise.all(loops);
    expect([...statuses.keys()].filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    const stored = new Set(((await ctx.sql.all('SELECT id FROM orders')) as { id: string }[]).map((r) => r.id));
    for (const id of acknowledged) expect(stored.has(id)).toBe(true);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });
});
