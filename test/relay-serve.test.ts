/**
 * `shahn serve` A relaying to a real `shahn serve` B, and A killed with SIGKILL while orders are in
 * flight: after A's restart every A order ends final, B holds exactly one order per A order (by
 * ref), no A order is refunded while B fulfilled it, and both ledgers pass the audit.
 * Both stores: A's store is the test store (SQLite or PostgreSQL); B, the upstream, is always a SQLite shahn.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { relayRef } from '../src/gateways/relay/relay-config.js';
import { openStore } from '../src/runtime/open-store.js';
import { freshDatabase, tempDir } from './helpers.js';
import { waitUntil } from './processor-helpers.js';
import { runCliAsync, startServe, type ServeProcess } from './serve-process.js';

describe('shahn serve relaying to another shahn', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });
  const serve = async (env: Record<string, string>) => {
    const s = await startServe(env);
    cleanup.push(() => s.stop('SIGKILL'));
    return s;
  };

  it('a SIGKILL of A under load: after the restart every order is final, B holds one order per A order, no order refunded that B fulfilled', async () => {
    const dir = tempDir();
    const bDb = join(dir, 'b.db');
    const simulator = join(dir, 'simulator.json');
    writeFileSync(simulator, JSON.stringify({ defaults: { latencyMs: { min: 2_000, max: 4_000 }, rates: { fulfilled: 1, wrongNumber: 0, planMismatch: 0, timeout: 0, garbled: 0 } } }));
    const b = await serve({ SHAHN_DB: bDb, SHAHN_RATE_LIMIT: '100000', SHAHN_SIMULATOR_CONFIG: simulator });
    const created = await runCliAsync(['merchant', 'create', '--username', '+213555000333', '--balance', '100000', '--json'], { SHAHN_DB: bDb });
    expect(created.status, created.stderr).toBe(0);
    const upstreamKey = (JSON.parse(created.stdout) as { productionKey: string }).productionKey;

    const fresh = await freshDatabase(dir);
    cleanup.push(() => fresh.drop());
    const file = join(dir, 'gateways.json');
    writeFileSync(file, JSON.stringify({ gateways: { upstream: { type: 'relay', baseUrl: b.url, apiKeyEnv: 'UPSTREAM_KEY', requestTimeoutMs: 2000, pingEveryMs: 300, followEveryMs: 500, firstCheckMs: 200, checkEveryMs: 300 } }, routes: [{ operator: '*', gateway: 'upstream' }] }));
    const env = {
      SHAHN_DB: fresh.db, SHAHN_DEMO: 'true', SHAHN_GATEWAYS: file, UPSTREAM_KEY: upstreamKey, SHAHN_GATEWAY_TIMEOUT_MS: '8000', SHAHN_LEASE_MS: '9000',
      SHAHN_RECOVERY_EVERY_MS: '250', SHAHN_RATE_LIMIT: '100000', SHAHN_PROCESSOR_CONCURRENCY: '8',
    };
    const a = await serve(env);
    expect(a.stdout()).toMatch(/Gateways: upstream \(relay to http:\/\/127\.0\.0\.1:\d+\)/);
    const key = a.productionKey!;
    const api = async (s: ServeProcess, method: string, path: string, body?: unknown) => {
      const res = await fetch(`${s.url}${path}`, { method, headers: { 'X-Access-Token': key, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return (await res.json()) as { success: boolean; data: Record<string, unknown> };
    };
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await api(a, 'POST', '/v3/mobile/send', { plan_code: 'PREPAID_MOBILIS', MSSIDN: `06612350${String(i).padStart(2, '0')}`, amount: 100 });
      expect(r.success).toBe(true);
      ids.push(r.data.topupId as string);
    }
    // Killed while some orders are with B and others wait (8 at a time, 2-4 s each at B).
    const bOrders = () => {
      const db = new Database(bDb, { readonly: true, fileMustExist: true });
      try {
        return db.prepare("SELECT ref, status FROM orders WHERE ref LIKE 'shahn.%'").all() as { ref: string; status: string }[];
      } finally {
        db.close();
      }
    };
    await waitUntil(() => bOrders().length >= 10, 15_000, 'B holding some of the orders');
    a.child.kill('SIGKILL');
    await a.exited;
    const inFlight = bOrders().length;
    expect(inFlight).toBeLessThan(40);

    const again = await serve(env);
    await waitUntil(async () => {
      const statuses = await Promise.all(ids.map(async (id) => (await api(again, 'GET', `/v3/mobile/check-id/${id}`)).data.status));
      return statuses.every((s) => s === 'FULFILLED' || s === 'REFUNDED');
    }, 60_000, 'every A order settled');
    const held = bOrders();
    for (const id of ids) {
      const mine = held.filter((o) => o.ref === relayRef(id));
      expect({ id, inB: mine.length }).toEqual({ id, inB: 1 });
      const local = (await api(again, 'GET', `/v3/mobile/check-id/${id}`)).data.status;
      expect({ id, local }).toEqual({ id, local: mine[0]!.status });
    }
    for (const db of [fresh.db, bDb]) {
      const store = openStore(loadConfig({ SHAHN_DB: db }));
      try {
        expect(await store.ledger.checkMoney()).toEqual([]);
      } finally {
        await store.close();
      }
    }
  }, 120_000);
});
