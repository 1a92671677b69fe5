/**
 * SQLite's in-memory cache of orders read by id (check-id) and of sandbox clock offsets: every writer
 * of an order is seen at once (this process's processor, support resolve and re-send), so is this
 * process's own clock move, and another connection's commits (a `shahn worker`, the CLI or a second
 * API process on the same file) within ORDER_CACHE_OTHERS_MS.
 * Stores: SQLite only: the order cache is SQLite's own (PostgreSQL keeps only the hot path's FULFILLED cache,
 * covered by test/fast-path.test.ts on both).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, ORDER_CACHE_OTHERS_MS } from '../src/store/sqlite/open-sqlite-store.js';
import { buildDeps } from '../src/runtime/build-deps.js';
import { resolveOrder } from '../src/support/resolve-order.js';
import { resendOrder } from '../src/support/resend-order.js';
import { call, makeContext, type TestContext } from './helpers.js';
import { ManualGateway, makeProcessor, sendUncertainOrder, settle } from './processor-helpers.js';

describe.runIf(process.env.SHAHN_TEST_STORE !== 'postgres')('the SQLite order cache', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000 });
  });
  afterEach(async () => {
    await ctx.close();
  });

  const status = async (id: string, key = ctx.merchant.productionKey) => {
    const r = await call(ctx, 'GET', `/v3/mobile/check-id/${id}`, { key });
    return r.body.data as { status: string; retry_orderid?: string; refund_message?: string } | undefined;
  };
  const send = async (MSSIDN = '0778037340') =>
    (await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN, amount: 500 } })).body.data.topupId as string;

  it("shows each of the processor's writes at once: claim, call started, outcome", async () => {
    const gw = new ManualGateway();
    const id = await send();
    expect((await status(id))?.status).toBe('PENDING');
    expect((await status(id))?.status).toBe('PENDING'); // now from the cache
    const p = makeProcessor(ctx, gw);
    await p.tick();
    await gw.waitForCall(id);
    expect((await status(id))?.status).toBe('HANDLING');
    await gw.answer(id, { kind: 'FULFILLED' });
    await p.drain();
    await settle();
    expect((await status(id))?.status).toBe('FULFILLED');
  });

  it('shows support resolve and re-send at once', async () => {
    const id = await sendUncertainOrder(ctx, new ManualGateway());
    expect((await status(id))?.status).toBe('UNKNOWN_ERROR');
    await resolveOrder(ctx.deps, { actor: 'test', orderId: id, to: 'REFUNDED', reason: 'operator says no' });
    expect((await status(id))?.status).toBe('REFUNDED');
    const again = await resendOrder(ctx.deps, { actor: 'test', orderId: id, reason: 'customer asked' });
    expect((await status(id))?.retry_orderid).toBe(again.topupId);
  });

  it("shows another connection's commit within the bound, and a cached order never leaks to another merchant or environment", async () => {
    const id = await sendUncertainOrder(ctx, new ManualGateway());
    expect((await status(id))?.status).toBe('UNKNOWN_ERROR');
    expect(await status(id, ctx.merchant.sandboxKey)).toBeUndefined();

    // A second connection to the same file, as `shahn support resolve` in another process would be.
    const other = openSqliteStore(ctx.db);
    try {
      const otherDeps = buildDeps(ctx.config, other, { clock: ctx.clock });
      await resolveOrder(otherDeps, { actor: 'cli', orderId: id, to: 'FULFILLED', reason: 'operator confirmed' });
    } finally {
      await other.close();
    }
    await new Promise((r) => setTimeout(r, ORDER_CACHE_OTHERS_MS + 1));
    expect((await status(id))?.status).toBe('FULFILLED');
  });

  it("a sandbox order's check-id on the hot path follows the clock: this process's advance and reset at once, another API process's within the bound", async () => {
    const key = ctx.merchant.sandboxKey;
    // A real listener: check-id then goes through the hot path (fast-check-id.ts), which reads the offset from the cache.
    const base = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    const fast = async (id: string) => ((await (await fetch(`${base}/v3/mobile/check-id/${id}`, { headers: { 'x-access-token': key } })).json()) as { data: { status: string } }).data.status;
    const id = (await call(ctx, 'POST', '/v3/mobile/send', { key, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 } })).body.data.topupId as string;
    expect(await fast(id)).toBe('PENDING');
    expect(await fast(id)).toBe('PENDING'); // the key and the offset now from their caches
    await call(ctx, 'POST', '/v3/sandbox/clock/advance', { key, body: { seconds: 6 } });
    expect(await fast(id)).toBe('HANDLING');
    // A second API process on the same file moves the clock.
    const other = openSqliteStore(ctx.db);
    try {
      const otherApp = await (await import('../src/server/build-app.js')).buildApp(buildDeps(ctx.config, other, { clock: ctx.clock }));
      try {
        expect((await otherApp.inject({ method: 'POST', url: '/v3/sandbox/clock/advance', headers: { 'x-access-token': key }, payload: { seconds: 10 } })).statusCode).toBe(200);
      } finally {
        await otherApp.close();
      }
    } finally {
      await other.close();
    }
    await new Promise((r) => setTimeout(r, ORDER_CACHE_OTHERS_MS + 1));
    expect(await fast(id)).toBe('FULFILLED');
    await call(ctx, 'POST', '/v3/sandbox/clock/reset', { key });
    // Back at real time the order, made at real time on this test's stopped clock, is young again.
    expect(await fast(id)).toBe('PENDING');
  });

  it('stays correct with a tiny bound and with the cache off', async () => {
    for (const size of [0, 2]) {
      const store = openSqliteStore(ctx.db, { orderCacheSize: size });
      try {
        const ids = [await send(), await send(), await send()];
        for (let round = 0; round < 3; round++) {
          for (const id of ids) expect((await store.orders.findOrderById(ctx.merchant.id, 'PRODUCTION', id))?.status).toBe('PENDING');
        }
        expect(await store.orders.findOrderById(ctx.merchant.id, 'SANDBOX', ids[0]!)).toBeUndefined();
      } finally {
        await store.close();
      }
    }
  });
});
