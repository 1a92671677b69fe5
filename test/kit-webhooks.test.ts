/**
 * The sync kit with webhooks: a delivery updates the merchant's order at once (no poll), hooks run
 * exactly once, a stale or repeated event changes nothing, a forged one is refused; polling still
 * finds a transition whose webhook was lost.
 * Both stores: the server's store and the kit's store are the test store (SQLite or PostgreSQL).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SyncKit, type KitStore } from '@shahn/merchant';
import { Shahn, WebhookVerificationError } from '@shahn/sdk';
import { WebhookDispatcher } from '../src/processor/webhook-dispatcher.js';
import type { OrderProcessor } from '../src/processor/order-processor.js';
import { call, makeContext, openTestKitStore, type TestContext } from './helpers.js';
import { ManualGateway, makeProcessor, silentLog, waitUntil } from './processor-helpers.js';

describe('the sync kit with webhooks', () => {
  let ctx: TestContext;
  let store: KitStore;
  let processor: OrderProcessor;
  let dispatcher: WebhookDispatcher;
  let receiver: Server;
  let kit: SyncKit;
  let gw: ManualGateway;
  const results: string[] = [];
  const hooks = { fulfilled: [] as string[], refunded: [] as string[], uncertain: [] as string[] };
  let dropNext = 0;

  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000, env: { SHAHN_WEBHOOK_ALLOW_PRIVATE: 'true' } });
    await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    const baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
    store = (await openTestKitStore(ctx.dir, ctx.db)).store;
    results.length = 0;
    for (const k of Object.keys(hooks) as (keyof typeof hooks)[]) hooks[k].length = 0;
    dropNext = 0;
    // The merchant's endpoint: hands each delivery to the kit (or drops it, as a lost webhook).
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (dropNext > 0) {
          dropNext--;
          res.writeHead(200).end(); // answered, never handled: lost on the merchant's side
          return;
        }
        kit.handleWebhook(body, req.headers).then(
          (r) => {
            results.push(r);
            res.writeHead(204).end();
          },
          (err: Error) => {
            results.push(err instanceof WebhookVerificationError ? 'refused' : `error: ${err.message}`);
            res.writeHead(400).end();
          },
        );
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const created = await call(ctx, 'POST', '/v3/webhooks', { key: ctx.merchant.productionKey, body: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks` } });
    kit = new SyncKit({
      client: new Shahn({ apiKey: ctx.merchant.productionKey, baseUrl, maxRetries: 0 }),
      store,
      clock: ctx.clock,
      webhookSecret: created.body.data.secret as string,
      hooks: {
        onFulfilled: (o) => void hooks.fulfilled.push(o.id),
        onRefunded: (o) => void hooks.refunded.push(o.id),
        onUncertain: (o) => void hooks.uncertain.push(o.id),
      },
    });
    gw = new ManualGateway();
    processor = makeProcessor(ctx, gw);
    await processor.start();
    dispatcher = new WebhookDispatcher({ store: ctx.deps.store, clock: ctx.clock, logger: silentLog }, { pollMs: 20, allowPrivate: true });
    dispatcher.start();
  });
  afterEach(async () => {
    await processor.stop();
    await dispatcher.stop();
    await kit.stop();
    await store.close();
    await new Promise((r) => receiver.close(r));
    await ctx.close();
  });

  it('a delivery updates the order at once, without a single poll; hooks once; stale and forged events change nothing', async () => {
    const order = await kit.send({ orderId: 'shop-1', plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234567', amount: 100 });
    expect(order.status).toBe('PENDING');
    const callsAfterSend = kit.apiCalls;
    const scheduled = (await store.getOrder('shop-1'))!.nextCheckAt;
    await waitUntil(async () => (await store.getOrder('shop-1'))?.status === 'HANDLING', 5_000, 'HANDLING from its webhook');
    // The webhook leaves the order's next check where it was: its checks stay in step with the others'.
    expect((await store.getOrder('shop-1'))!.nextCheckAt).toBe(scheduled);
    await gw.answer(order.topupId!, { kind: 'FULFILLED' });
    await waitUntil(async () => (await store.getOrder('shop-1'))?.status === 'FULFILLED', 5_000, 'FULFILLED from its webhook');
    await waitUntil(() => hooks.fulfilled.length === 1 && results.length === 2, 5_000, 'the hook, and the delivery answered');
    expect(kit.apiCalls).toBe(callsAfterSend); // no check, no list: the webhooks told it
    expect(results).toEqual(['applied', 'applied']);
    // The same events again (a replay): nothing moves, no hook again.
    const id = (await call(ctx, 'GET', '/v3/webhooks', { key: ctx.merchant.productionKey })).body.data.items[0].id as string;
    const window = { from: new Date(ctx.clock.now() - 60_000).toISOString(), to: new Date(ctx.clock.now() + 60_000).toISOString() };
    expect((await call(ctx, 'POST', `/v3/webhooks/${id}/replay`, { key: ctx.merchant.productionKey, body: window })).body.data).toEqual({ replayed: 2 });
    dispatcher.kick();
    await waitUntil(() => results.length === 4, 5_000, 'the replay handled');
    expect(results.slice(2)).toEqual(['stale', 'stale']);
    await kit.deliverEvents();
    expect(hooks.fulfilled).toEqual(['shop-1']);
    // A forged delivery is refused.
    const forged = await fetch(`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`, {
      method: 'POST',
      headers: { 'webhook-id': 'evt_x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' },
      body: JSON.stringify({ type: 'topup.refunded', timestamp: new Date().toISOString(), data: { ref: 'shop-1', status: 'REFUNDED' } }),
    });
    expect(forged.status).toBe(400);
    expect(results.at(-1)).toBe('refused');
    expect((await store.getOrder('shop-1'))!.status).toBe('FULFILLED');
  });

  it('a lost webhook loses no transition: polling, the safety net, finds it; the refund hook runs once', async () => {
    const order = await kit.send({ orderId: 'shop-2', plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234568', amount: 100 });
    await waitUntil(async () => (await store.getOrder('shop-2'))?.status === 'HANDLING', 5_000, 'HANDLING');
    dropNext = 1; // the REFUNDED event reaches the endpoint but the shop loses it
    await gw.answer(order.topupId!, { kind: 'REFUNDED', refundMessage: 'الرصيد المطلوب غير متوفر لهذا الرقم' });
    await waitUntil(() => dropNext === 0, 5_000, 'the event lost');
    expect((await store.getOrder('shop-2'))!.status).toBe('HANDLING');
    // The kit's poll, when due, reads the order and moves it.
    ctx.clock.advance(60_000);
    await kit.pollOnce();
    expect((await store.getOrder('shop-2'))!.status).toBe('REFUNDED');
    await kit.deliverEvents();
    expect(hooks.refunded).toEqual(['shop-2']);
    expect(hooks.fulfilled).toEqual([]);
  });
});
