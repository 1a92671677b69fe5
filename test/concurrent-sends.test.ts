/**
 * 1,000 simultaneous production sends over real HTTP against a balance that covers exactly 500:
 * exactly 500 accepted, 500 INSUFFICIENT_BALANCE, final balance 0; after the processor settles them,
 * the ledger agrees with every order's final status.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/runtime/open-store.js';
import { loadConfig } from '../src/config.js';
import { freshDatabase, tempDir } from './helpers.js';
import { BIN, runCli, startServe, type ServeProcess } from './serve-process.js';
import { spawn } from 'node:child_process';

describe('1,000 simultaneous production sends', () => {
  let server: ServeProcess | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('accept exactly what the balance covers, and the ledger agrees after settling', async () => {
    const dir = tempDir();
    const fresh = await freshDatabase(dir);
    const db = fresh.db;
    const simConfig = join(dir, 'sim.json');
    writeFileSync(simConfig, JSON.stringify({ seed: 3, defaults: { latencyMs: { min: 0, max: 20 }, rates: { fulfilled: 7, wrongNumber: 1, planMismatch: 1, garbled: 1, timeout: 0 } } }));
    const created = JSON.parse(runCli(['merchant', 'create', '--username', '+213661000000', '--balance', '2500000', '--json'], { SHAHN_DB: db }).stdout);
    // The API alone first (no processor in it), so that no refund comes back while the sends race.
    // 1,000 sends at once queue on the merchant's row lock on PostgreSQL: generous timeouts, so that each is
    // answered by the money rule (accepted or INSUFFICIENT_BALANCE) and not by a busy machine's 503.
    server = await startServe({ SHAHN_DB: db, SHAHN_DEMO: 'false', SHAHN_RATE_LIMIT: '5000', SHAHN_PROCESSOR: 'false', SHAHN_PG_STATEMENT_TIMEOUT_MS: '60000', SHAHN_PG_CONNECT_TIMEOUT_MS: '60000' });

    const agent = new Agent({ keepAlive: true, maxSockets: 1000 });
    const url = new URL('/v3/mobile/send', server.url);
    const post = (body: string) =>
      new Promise<{ status: number; body: { data?: { topupId: string }; error?: { code: string } } }>((resolve, reject) => {
        const req = request(
          { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { 'x-access-token': created.productionKey, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    // All 1,000 requests are in flight at once.
    const replies = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => post(JSON.stringify({ plan_code: 'GROS_MOBILIS', MSSIDN: '0661234567', amount: 5000, ref: `c-${i}` }))),
    );
    agent.destroy();
    const accepted = replies.filter((r) => r.status === 200);
    expect(accepted).toHaveLength(500);
    expect(replies.filter((r) => r.status === 403 && r.body.error?.code === 'INSUFFICIENT_BALANCE')).toHaveLength(500);
    const balance = await fetch(`${server.url}/v3/account/balance`, { headers: { 'X-Access-Token': created.productionKey } });
    expect(((await balance.json()) as { data: { balance: number } }).data.balance).toBe(0);

    // Then a separate `shahn worker` settles them through the simulator.
    const worker = spawn(process.execPath, [BIN, 'worker'], {
      env: { ...process.env, SHAHN_DB: db, SHAHN_LOG_LEVEL: 'warn', SHAHN_SIMULATOR_CONFIG: simConfig, SHAHN_PROCESSOR_CONCURRENCY: '200' },
      stdio: 'ignore',
    });

    const store = openStore(loadConfig({ SHAHN_DB: db }));
    try {
      // Wait for the processor to settle every order.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const open = (await store.orders.listOrders(created.id, 'PRODUCTION', { offset: 0, limit: 1000 })).items.filter((o) => o.status === 'PENDING' || o.status === 'HANDLING');
        if (open.length === 0) break;
        if (Date.now() > deadline) throw new Error(`${open.length} orders still open`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const orders = (await store.orders.listOrders(created.id, 'PRODUCTION', { offset: 0, limit: 1000 })).items;
      expect(orders).toHaveLength(500);
      const refunded = orders.filter((o) => o.status === 'REFUNDED').length;
      const statuses = new Set(orders.map((o) => o.status));
      expect(statuses.has('FULFILLED')).toBe(true);
      expect(statuses.has('REFUNDED')).toBe(true);
      expect(statuses.has('UNKNOWN_ERROR')).toBe(true);
      const merchant = await store.accounts.findMerchantById(created.id);
      // The balance is exactly the refunds (everything else was spent).
      expect(merchant!.balance).toBe(refunded * 500_000);
      expect(await store.ledger.checkMoney()).toEqual([]);
      const ledger = (await store.ledger.listLedger(created.id, { offset: 0, limit: 5000 })).items;
      expect(ledger.filter((e) => e.type === 'FLEXY')).toHaveLength(500);
      expect(ledger.filter((e) => e.type === 'REFUND-FLEXY')).toHaveLength(refunded);
    } finally {
      worker.kill('SIGTERM');
      await new Promise((r) => worker.once('exit', r));
      await store.close();
      await fresh.drop();
    }
  }, 120_000);
});
