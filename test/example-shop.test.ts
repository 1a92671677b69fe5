/**
 * The example merchant backend, end to end against `shahn serve` in the sandbox: the contract's sandbox
 * timeline, moved on by the sandbox clock instead of waited through. Both stores.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCHEDULE, openSqliteKitStore, SyncKit } from '@shahn/merchant';
import { Shahn } from '@shahn/sdk';
import { freePort, freshDatabase, tempDir } from './helpers.js';
import { waitUntil } from './processor-helpers.js';
import { ROOT, startServe, type ServeProcess } from './serve-process.js';

describe('examples/merchant-shop and `shahn merchant-sync`', () => {
  let server: ServeProcess;
  let shop: ChildProcess;
  let shopUrl: string;
  let drop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const dir = tempDir('shahn-shop-');
    const fresh = await freshDatabase(dir);
    drop = fresh.drop;
    server = await startServe({ SHAHN_DB: fresh.db, SHAHN_DEMO: 'true', SHAHN_WEBHOOK_ALLOW_PRIVATE: 'true' });
    const port = await freePort();
    shopUrl = `http://127.0.0.1:${port}`;
    shop = spawn(process.execPath, [join(ROOT, 'examples', 'merchant-shop', 'server.mjs')], {
      env: { ...process.env, SHAHN_API_KEY: server.sandboxKey!, SHAHN_BASE_URL: server.url, SHOP_DB: join(dir, 'shop.db'), SHOP_PORT: String(port), SHOP_PUBLIC_URL: shopUrl },
      stdio: 'ignore',
    });
    for (let i = 0; i < 100; i++) {
      try {
        if ((await fetch(`${shopUrl}/wallet/x`)).ok) break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
  afterAll(async () => {
    shop?.kill('SIGTERM');
    await server?.stop();
    await drop?.();
  });

  const buy = async (user: string, phone: string, amount = 500) =>
    (await (await fetch(`${shopUrl}/buy`, { method: 'POST', body: JSON.stringify({ user, phone, plan_code: 'PREPAID_DJEZZY', amount }) })).json()) as { orderId: string; status?: string; code?: string };
  const order = async (id: string) => (await (await fetch(`${shopUrl}/orders/${id}`)).json()) as Record<string, unknown>;
  const wallet = async (user: string) => ((await (await fetch(`${shopUrl}/wallet/${user}`)).json()) as { balance: number }).balance;

  it('sells top-ups: delivered, refunded once with the Arabic message and offers, never refunded on UNKNOWN_ERROR', async () => {
    const ok = await buy('amel', '0778037340');
    const refunded = await buy('bilal', '0600000002', 700);
    const uncertain = await buy('chahra', '0600000003');
    const rejected = await buy('dina', '0778037340', 50); // below the plan's minimum: refused by the API, money back at once
    expect(rejected.code).toBe('ERR_VALIDATION');
    expect(await wallet('dina')).toBe(5000);
    expect(await wallet('amel')).toBe(4500);

    // Meanwhile `shahn merchant-sync` follows another merchant store's order and prints its transition.
    const syncStore = join(tempDir('shahn-sync-'), 'merchant.db');
    const store = openSqliteKitStore(syncStore);
    await store.migrate();
    const client = new Shahn({ apiKey: server.sandboxKey!, baseUrl: server.url });
    // Checked as soon as merchant-sync starts: by then the sandbox clock has moved past the order's 15 s.
    await new SyncKit({ client, store, schedule: { ...DEFAULT_SCHEDULE, firstCheckMs: 0 } }).send({ orderId: 'cli-1', plan_code: 'PREPAID_MOBILIS', MSSIDN: '0600000001', amount: 100 });
    await store.close();
    // 16 s on the merchant's sandbox clock: every order is final (the shop hears it from its webhooks,
    // which fall due with the clock), and no test waits through the contract's 15 s.
    expect(await client.sandbox.advance(16)).toMatchObject({ offsetSeconds: 16 });
    const sync = spawn(process.execPath, [join(ROOT, 'bin', 'shahn.js'), 'merchant-sync', '--store', syncStore, '--key', server.sandboxKey!, '--base-url', server.url, '--tick-ms', '500'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let syncOut = '';
    sync.stdout!.on('data', (d: Buffer) => (syncOut += d.toString()));

    await waitUntil(async () => syncOut.includes('order.refunded') && (await order(uncertain.orderId)).status === 'UNKNOWN_ERROR' && (await order(refunded.orderId)).status === 'REFUNDED' && (await order(ok.orderId)).status === 'FULFILLED', 30_000, 'the shop and merchant-sync to see every final state');
    await new Promise((r) => setTimeout(r, 1000)); // no second event comes
    sync.kill('SIGTERM');
    const events = syncOut.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; order: { id: string; refundMessage: string } });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ event: 'order.refunded', order: { id: 'cli-1', refundMessage: 'الرصيد المطلوب غير متوفر لهذا الرقم' } });
    expect(await order(ok.orderId)).toMatchObject({ status: 'FULFILLED', purchase: { state: 'delivered' } });
    const r = await order(refunded.orderId);
    expect(r).toMatchObject({ status: 'REFUNDED', message: 'هذا رقم الهاتف لا يقبل العرض المرسل، الرجاء إرسال أحد العروض التالية', suggested_offers: [{ typename: '📋 FACTURE | فاتورة', plan_code: 'FACTURE_DJEZZY', amount: 700 }] });
    expect(await wallet('bilal')).toBe(5000);
    const u = await order(uncertain.orderId);
    expect(u).toMatchObject({ status: 'UNKNOWN_ERROR', purchase: { state: 'under review' } });
    expect(await wallet('chahra')).toBe(4500);
    const html = await (await fetch(`${shopUrl}/orders/${refunded.orderId}.html`)).text();
    expect(html).toContain('<p lang="ar" dir="rtl">هذا رقم الهاتف لا يقبل العرض المرسل، الرجاء إرسال أحد العروض التالية</p>');
    expect(await wallet('amel')).toBe(4500);
    // The shop registered its webhook endpoint and took the sandbox's events (HANDLING and final, for
    // each of its 3 orders and the CLI's); the ones that moved an order first were applied.
    await waitUntil(async () => ((await (await fetch(`${shopUrl}/webhooks/stats`)).json()) as { handled: number }).handled >= 8, 10_000, 'the webhooks handled');
    const stats = (await (await fetch(`${shopUrl}/webhooks/stats`)).json()) as { enabled: boolean; handled: number; applied: number; refused: number };
    expect(stats).toMatchObject({ enabled: true, refused: 0 });
    expect(stats.applied).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
