/**
 * A database outage under load: PostgreSQL stopped and restarted while merchants send and poll. The
 * API answers 503 SERVICE_UNAVAILABLE while it is down (quickly: requests do not hang), recovers on
 * its own, and no acknowledged order or ledger entry is lost.
 * Stores: PostgreSQL only: a database server stopped and started; SQLite has no server.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createMerchant } from '../src/domain/create-merchant.js';
import { buildDeps } from '../src/runtime/build-deps.js';
import { migrateStore } from '../src/runtime/open-store.js';
import { loadConfig } from '../src/config.js';
import { openPostgresStore } from '../src/store/postgres/open-postgres-store.js';
import { PrivateCluster } from './pg-private-cluster.js';
import { freePort } from './helpers.js';
import { startServe, type ServeProcess } from './serve-process.js';
import { waitUntil } from './processor-helpers.js';

// Stopping and starting a private PostgreSQL cluster needs root (runuser -u postgres). CI runs as root;
// elsewhere, without root, this one test cannot run and says so.
const canManageClusters = process.getuid?.() === 0 || Boolean(process.env.CI);
if (!canManageClusters) console.warn('*** PostgreSQL outage test SKIPPED: it needs root to run a private PostgreSQL cluster. ***');

describe.runIf(canManageClusters)('PostgreSQL outage under load', () => {
  let cluster: PrivateCluster | undefined;
  let server: ServeProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    try {
      cluster?.stop('immediate');
    } catch {
      /* already stopped */
    }
  });

  it('503 while down, back on its own, nothing acknowledged lost', async () => {
    cluster = new PrivateCluster(await freePort());
    cluster.start();
    const store = openPostgresStore(cluster.url, { poolSize: 2 });
    await migrateStore(store);
    const deps = buildDeps(loadConfig({ SHAHN_DB: cluster.url, SHAHN_LOG_LEVEL: 'silent' }), store);
    const merchant = await createMerchant(deps, { username: '+213663000000', balance: 10_000_000 });
    await store.close();

    server = await startServe({
      SHAHN_DB: cluster.url, SHAHN_DEMO: 'false', SHAHN_RATE_LIMIT: '0', SHAHN_PG_STATEMENT_TIMEOUT_MS: '1000', SHAHN_GATEWAY_TIMEOUT_MS: '1000',
      SHAHN_LEASE_MS: '2000', SHAHN_RECOVERY_EVERY_MS: '500', SHAHN_PROCESSOR_POLL_MS: '50',
    });
    const base = server.url;

    const acknowledged = new Set<string>();
    const outcomes: { phase: string; status: number; ms: number; code?: string }[] = [];
    let phase = 'up';
    let stop = false;
    let seq = 0;
    // A request belongs to a phase when it started and ended in it: one that started while the database
    // was down and reached the store after the restart (a loaded machine) is rightly answered 200.
    const during = (at: string) => (at === phase ? at : `${at}→${phase}`);
    const loop = async () => {
      while (!stop) {
        const started = Date.now();
        const at = phase; // the phase when the request started
        try {
          const res = await fetch(`${base}/v3/mobile/send`, {
            method: 'POST',
            headers: { 'X-Access-Token': merchant.productionKey, 'Content-Type': 'application/json' },
            body: JSON.stringify({ plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234567', amount: 100, ref: `out-${seq++}` }),
            signal: AbortSignal.timeout(10_000),
          });
          const body = (await res.json()) as { data?: { topupId: string }; error?: { code: string } };
          if (res.status === 200 && body.data) acknowledged.add(body.data.topupId);
          outcomes.push({ phase: during(at), status: res.status, ms: Date.now() - started, ...(body.error ? { code: body.error.code } : {}) });
        } catch {
          outcomes.push({ phase: during(at), status: 0, ms: Date.now() - started });
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const loops = Array.from({ length: 4 }, loop);
    await new Promise((r) => setTimeout(r, 1500));
    phase = 'stopping';
    cluster.stop('fast');
    phase = 'down';
    await new Promise((r) => setTimeout(r, 3000));
    if (server.child.exitCode !== null) throw new Error(`serve died: ${server.stderr()}`);
    const ping = await (await fetch(`${base}/v3/ping`)).json() as { data: { api: string } };
    expect(ping.data.api).toBe('error');
    phase = 'restarting';
    cluster.start();
    await waitUntil(async () => outcomes.filter((o) => o.phase === 'restarting' && o.status === 200).length > 5, 20_000, 'sends to succeed again');
    phase = 'back';
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(loops);

    const down = outcomes.filter((o) => o.phase === 'down');
    expect(down.length).toBeGreaterThan(10);
    for (const o of down) {
      expect(o.status).toBe(503);
      expect(o.code).toBe('SERVICE_UNAVAILABLE');
      expect(o.ms).toBeLessThan(5_000);
    }
    expect(outcomes.filter((o) => o.phase === 'up' && o.status === 200).length).toBeGreaterThan(5);
    expect(outcomes.filter((o) => o.phase === 'back').every((o) => o.status === 200)).toBe(true);

    const check = openPostgresStore(cluster.url, { poolSize: 2 });
    try {
      // Let the processor settle, then: every acknowledged order is there, and the money adds up.
      await waitUntil(async () => (await check.orders.listOrders(merchant.id, 'PRODUCTION', { offset: 0, limit: 100_000 })).items.every((o) => o.status !== 'PENDING' && o.status !== 'HANDLING'), 30_000, 'orders to settle');
      const orders = new Set((await check.orders.listOrders(merchant.id, 'PRODUCTION', { offset: 0, limit: 100_000 })).items.map((o) => o.id));
      for (const id of acknowledged) expect(orders.has(id), `acknowledged order ${id} lost`).toBe(true);
      expect(await check.ledger.checkMoney()).toEqual([]);
    } finally {
      await check.close();
    }
  }, 120_000);
});
