/**
 * The sync kit with webhooks when 30% of the deliveries are lost on the way, its polling running too:
 * a proxy in front of the merchant's endpoint resets the connection of every request whose number
 * mod 10 < 3 (no answer; the dispatcher tries again on its schedule), over real HTTP on loopback.
 * Every order's every transition (HANDLING, then FULFILLED, REFUNDED or UNKNOWN_ERROR) becomes known to
 * the kit, in order, whichever of a delivery, a repeated delivery or a poll brings it first; each
 * order's final hook runs exactly once, of the right kind; the kit's final statuses are the server's;
 * deliveries that arrive after a poll moved the order change nothing ('stale').
 * Both stores: the server's store and the kit's store are the test store (SQLite or PostgreSQL).
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SyncKit, type KitStore } from '@shahn/merchant';
import { Shahn, WebhookVerificationError } from '@shahn/sdk';
import { WebhookDispatcher } from '../src/processor/webhook-dispatcher.js';
import type { OrderProcessor } from '../src/processor/order-processor.js';
import type { GatewayOutcome } from '../src/gateways/gateway.js';
import { call, makeContext, openTestKitStore, type TestContext } from './helpers.js';
import { ManualGateway, makeProcessor, silentLog, waitUntil } from './processor-helpers.js';

const ORDERS = 24;
const FINAL = new Set(['FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR']);
const RANK: Record<string, number> = { SENDING: 0, PENDING: 1, HANDLING: 2, UNKNOWN_ERROR: 3, FULFILLED: 4, REFUNDED: 4 };
const HOOK_OF: Record<string, string> = { FULFILLED: 'fulfilled', REFUNDED: 'refunded', UNKNOWN_ERROR: 'uncertain' };

/** The outcome the test gives order i: mostly fulfilled, some refunded, some uncertain. */
function outcomeOf(i: number): GatewayOutcome {
  if (i % 4 === 1) return { kind: 'REFUNDED', refundMessage: 'الرصيد المطلوب غير متوفر لهذا الرقم' };
  if (i % 6 === 2) return { kind: 'UNKNOWN', reason: 'garbled' };
  return { kind: 'FULFILLED' };
}

const listen = (s: Server) => new Promise<string>((r) => s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
const close = (s: Server) =>
  new Promise<void>((r) => {
    s.close(() => r());
    s.closeAllConnections();
  });

describe('the sync kit with 30% of its webhooks lost, polling on', () => {
  let ctx: TestContext;
  let store: KitStore;
  let processor: OrderProcessor;
  let dispatcher: WebhookDispatcher;
  let receiver: Server;
  let proxy: Server;
  let kit: SyncKit;
  let gw: ManualGateway;
  let ticking: NodeJS.Timeout;
  /** Statuses each order moved to in the kit's store, in order (from a spy on applyStatus). */
  const moves = new Map<string, string[]>();
  const hooks = new Map<string, string[]>();
  const results: string[] = [];
  const proxied = { requests: 0, dropped: 0 };

  beforeEach(async () => {
    moves.clear();
    hooks.clear();
    results.length = 0;
    proxied.requests = 0;
    proxied.dropped = 0;
    ctx = await makeContext({ balance: 100_000, env: { SHAHN_WEBHOOK_ALLOW_PRIVATE: 'true' } });
    // One clock for the server, the dispatcher and the kit, running at about real speed: schedules
    // (the kit's checks, the dispatcher's retries) come due as time passes.
    ticking = setInterval(() => ctx.clock.advance(10), 10);
    await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    const baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
    store = (await openTestKitStore(ctx.dir, ctx.db)).store;
    const applyStatus = store.applyStatus.bind(store);
    store.applyStatus = async (id, expected, update, now) => {
      const moved = await applyStatus(id, expected, update, now);
      if (moved && update.status !== expected) moves.set(id, [...(moves.get(id) ?? []), update.status]);
      return moved;
    };
    // The merchant's endpoint: each delivery goes to the kit.
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        kit.handleWebhook(Buffer.concat(chunks), req.headers).then(
          (r) => {
            results.push(r);
            res.writeHead(204).end();
          },
          (err: Error) => {
            results.push(err instanceof WebhookVerificationError ? 'refused' : `error: ${err.message}`);
            res.writeHead(err instanceof WebhookVerificationError ? 400 : 500).end();
          },
        );
      });
    });
    receiver.keepAliveTimeout = 60_000;
    const receiverUrl = new URL(await listen(receiver));
    // In front of it: requests 0, 1, 2 of every 10 lose their connection, unanswered; the rest pass.
    proxy = createServer((req, res) => {
      if (proxied.requests++ % 10 < 3) {
        proxied.dropped++;
        req.socket.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const { host: _host, connection: _connection, ...headers } = req.headers;
        const up = httpRequest({ host: receiverUrl.hostname, port: receiverUrl.port, path: req.url, method: 'POST', headers }, (ur) => {
          res.writeHead(ur.statusCode ?? 502);
          ur.pipe(res);
        });
        up.on('error', () => res.writeHead(502).end());
        up.end(Buffer.concat(chunks));
      });
    });
    proxy.keepAliveTimeout = 60_000;
    const created = await call(ctx, 'POST', '/v3/webhooks', { key: ctx.merchant.productionKey, body: { url: `${await listen(proxy)}/hooks` } });
    expect(created.status).toBe(200);
    const hook = (kind: string) => (o: { id: string }) => void hooks.set(o.id, [...(hooks.get(o.id) ?? []), kind]);
    kit = new SyncKit({
      client: new Shahn({ apiKey: ctx.merchant.productionKey, baseUrl, maxRetries: 0 }),
      store,
      clock: ctx.clock,
      webhookSecret: created.body.data.secret as string,
      // Polling as the safety net, quick: the first check 300 ms after a send, then every 300 ms.
      schedule: { firstCheckMs: 300, intervals: [[Number.POSITIVE_INFINITY, 300]], sendingCheckMs: 1_000 },
      tickMs: 50,
      hooks: { onFulfilled: hook('fulfilled'), onRefunded: hook('refunded'), onUncertain: hook('uncertain') },
    });
    gw = new ManualGateway();
    processor = makeProcessor(ctx, gw);
    await processor.start();
    // Retries 200 ms apart, many of them: a delivery dropped again and again is still tried later.
    dispatcher = new WebhookDispatcher({ store: ctx.deps.store, clock: ctx.clock, logger: silentLog }, { pollMs: 20, allowPrivate: true, scheduleMs: Array(30).fill(200) });
    dispatcher.start();
  });
  afterEach(async () => {
    clearInterval(ticking);
    await kit.stop();
    await processor.stop();
    await dispatcher.stop();
    await store.close();
    await close(proxy);
    await close(receiver);
    await ctx.close();
  });

  it('every transition reaches the kit (delivery, retry or poll), final hooks run once each, statuses match the server', async () => {
    kit.start();
    const sent: { id: string; topupId: string }[] = [];
    for (let i = 0; i < ORDERS; i++) {
      const o = await kit.send({ orderId: `shop-${i}`, plan_code: 'PREPAID_MOBILIS', MSSIDN: `0661${String(100_000 + i)}`, amount: 100 });
      sent.push({ id: o.id, topupId: o.topupId! });
    }
    const callsAfterSends = kit.apiCalls;
    // HANDLING: known to the kit for every order before any is answered; and the kit has polled meanwhile.
    await waitUntil(async () => {
      for (const s of sent) if ((await store.getOrder(s.id))?.status !== 'HANDLING') return false;
      return true;
    }, 10_000, 'every order HANDLING in the kit');
    await waitUntil(() => kit.apiCalls > callsAfterSends, 5_000, 'a poll while the orders are open');
    // The operator answers; the final statuses come by delivery, by a retried delivery or by a poll.
    for (let i = 0; i < ORDERS; i++) await gw.answer(sent[i]!.topupId, outcomeOf(i));
    await waitUntil(async () => (await store.listEvents({ state: 'done' })).length === ORDERS, 10_000, 'every order final in the kit, its hook done');
    // Every delivery, dropped ones included, eventually answered (the last ones after the kit knew already).
    await waitUntil(async () => {
      const [row] = await ctx.sql.all(`SELECT COUNT(*) AS n FROM outbox WHERE kind = 'webhook' AND delivered_at IS NULL`);
      return Number(row!.n) === 0;
    }, 10_000, 'every webhook delivered');
    await dispatcher.drain();
    await kit.deliverEvents();

    expect(proxied.dropped).toBeGreaterThanOrEqual(Math.floor((2 * ORDERS * 3) / 10)); // 30% of at least 2 events per order
    expect(results.length).toBe(proxied.requests - proxied.dropped);
    expect(results.filter((r) => r !== 'applied' && r !== 'stale')).toEqual([]);
    expect(kit.apiCalls).toBeGreaterThan(callsAfterSends);

    for (let i = 0; i < ORDERS; i++) {
      const { id, topupId } = sent[i]!;
      const server = (await call(ctx, 'GET', `/v3/mobile/check-id/${topupId}`, { key: ctx.merchant.productionKey })).body.data as { status: string };
      const order = (await store.getOrder(id))!;
      expect(FINAL.has(server.status), id).toBe(true);
      expect(order.status, id).toBe(server.status);
      expect(order.knownFinalAt, id).not.toBeNull();
      // Every transition, in order: HANDLING (after PENDING, or straight from SENDING when its delivery
      // beat the send's answer), then the final status; never a step back, never a status twice.
      const seen = moves.get(id) ?? [];
      expect(seen.slice(-2), id).toEqual(['HANDLING', server.status]);
      expect(seen.map((s) => RANK[s]!), id).toEqual([...seen.map((s) => RANK[s]!)].sort((a, b) => a - b));
      expect(new Set(seen).size, id).toBe(seen.length);
      // The hook of its final status, once.
      expect(hooks.get(id), id).toEqual([HOOK_OF[server.status]]);
    }
    expect((await store.listEvents()).map((e) => e.state)).toEqual(Array(ORDERS).fill('done'));
  });
});
