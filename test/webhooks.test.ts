/**
 * Webhooks: endpoints managed with a merchant's key, events written with each order's change, and
 * deliveries to real HTTP receivers on loopback, signed per Standard Webhooks (checked with the
 * independent `standardwebhooks` package and with the SDK's verifyWebhook).
 * Both stores: the context's store is the test store (SQLite or PostgreSQL).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyWebhook, WebhookVerificationError } from '@shahn/sdk';
import { WebhookDispatcher } from '../src/processor/webhook-dispatcher.js';
import type { OrderProcessor } from '../src/processor/order-processor.js';
import { resolveOrder } from '../src/support/resolve-order.js';
import { addTestKey, call, makeContext, type TestContext } from './helpers.js';
import { ManualGateway, makeProcessor, silentLog, waitUntil } from './processor-helpers.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/** An HTTP receiver on loopback that answers as `reply` says, and keeps what it got. */
async function receiver(reply: (n: number, req: IncomingMessage, res: ServerResponse) => void = (_n, _req, res) => res.writeHead(200).end('ok')) {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body, at: Date.now() });
      reply(got.length, req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('webhooks', () => {
  let ctx: TestContext;
  let processor: OrderProcessor | undefined;
  let dispatcher: WebhookDispatcher | undefined;
  const closers: (() => Promise<unknown>)[] = [];

  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000, env: { SHAHN_WEBHOOK_ALLOW_PRIVATE: 'true' } });
    processor = undefined;
    dispatcher = undefined;
  });
  afterEach(async () => {
    await processor?.stop();
    await dispatcher?.stop();
    for (const c of closers.splice(0)) await c();
    await ctx.close();
  });

  const key = () => ctx.merchant.productionKey;
  const api = (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown, k = key()) => call(ctx, method as 'GET' | 'POST', url, { key: k, ...(body !== undefined ? { body } : {}) });
  const addEndpoint = async (url: string, extra: Record<string, unknown> = {}, k = key()) => {
    const r = await api('POST', '/v3/webhooks', { url, ...extra }, k);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.data as { id: string; secret: string; url: string; events: string[] };
  };
  const startDispatcher = (options: Partial<ConstructorParameters<typeof WebhookDispatcher>[1]> = {}) => {
    dispatcher = new WebhookDispatcher({ store: ctx.deps.store, clock: ctx.clock, logger: silentLog }, { pollMs: 50, allowPrivate: true, scheduleMs: [100, 100, 100], ...options });
    dispatcher.start();
    return dispatcher;
  };
  const send = async (MSSIDN = '0661234567', k = key()) => {
    const r = await call(ctx, 'POST', '/v3/mobile/send', { key: k, body: { plan_code: 'PREPAID_MOBILIS', MSSIDN, amount: 100 } });
    expect(r.status).toBe(200);
    processor?.notify();
    return r.body.data.topupId as string;
  };

  it('endpoints: made with a key (the secret shown once), listed, deleted; bad URLs, unknown events and read-only keys refused in the envelope', async () => {
    const made = await addEndpoint('http://127.0.0.1:9/hook', { events: ['topup.fulfilled', 'topup.refunded'], description: 'shop' });
    expect(made).toMatchObject({ url: 'http://127.0.0.1:9/hook', events: ['topup.fulfilled', 'topup.refunded'] });
    expect(made.id).toMatch(/^we_[0-9a-f]{24}$/);
    expect(made.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    expect(Buffer.from(made.secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    const list = await api('GET', '/v3/webhooks');
    expect(list.body.data.items).toEqual([expect.objectContaining({ id: made.id, description: 'shop', disabledAt: null })]);
    expect(JSON.stringify(list.body)).not.toContain(made.secret);
    // The sandbox key sees its own environment's endpoints only.
    expect((await api('GET', '/v3/webhooks', undefined, ctx.merchant.sandboxKey)).body.data.items).toEqual([]);
    const bad = async (body: unknown, code: string, message: RegExp) => {
      const r = await api('POST', '/v3/webhooks', body);
      expect(r.body).toMatchObject({ success: false, error: { code } });
      expect(r.body.error.message).toMatch(message);
    };
    await bad({ url: 'ftp://example.com/x' }, 'ERR_VALIDATION', /must be an https:\/\/ URL/);
    await bad({ url: 'not a url' }, 'ERR_VALIDATION', /must be an absolute URL/);
    await bad({ url: 'https://user:pw@example.com/x' }, 'ERR_VALIDATION', /must not hold credentials/);
    await bad({ url: 'http://127.0.0.1/x', events: ['topup.paid'] }, 'ERR_VALIDATION', /unknown event types: topup\.paid/);
    await bad({ url: 'http://127.0.0.1/x', extra: 1 }, 'ERR_VALIDATION', /additional propert/);
    const readOnly = await addTestKey(ctx, { scope: 'READ-ONLY', type: 'PRODUCTION' });
    expect((await api('POST', '/v3/webhooks', { url: 'http://127.0.0.1/x' }, readOnly)).body.error.code).toBe('READ_ONLY_KEY');
    expect((await api('GET', '/v3/webhooks', undefined, readOnly)).body.data.items).toHaveLength(1);
    expect((await api('DELETE', `/v3/webhooks/${made.id}`, undefined, readOnly)).body.error.code).toBe('READ_ONLY_KEY');
    expect((await api('DELETE', `/v3/webhooks/we_${'0'.repeat(24)}`)).body.error.code).toBe('NOT_FOUND');
    expect((await api('DELETE', `/v3/webhooks/${made.id}`, undefined, ctx.merchant.sandboxKey)).body.error.code).toBe('NOT_FOUND');
    expect((await api('DELETE', `/v3/webhooks/${made.id}`)).body.data).toEqual({ deleted: true });
    expect((await api('GET', '/v3/webhooks')).body.data.items).toEqual([]);
  });

  it('private, loopback and link-local targets are refused without SHAHN_WEBHOOK_ALLOW_PRIVATE, by address and after DNS resolution; http only to private addresses with it', async () => {
    const strict = await makeContext({ balance: 10 });
    try {
      const refused = async (url: string) => {
        const r = await call(strict, 'POST', '/v3/webhooks', { key: strict.merchant.productionKey, body: { url } });
        expect(r.body, url).toMatchObject({ success: false, error: { code: 'ERR_VALIDATION' } });
        return r.body.error.message as string;
      };
      for (const url of ['https://127.0.0.1/x', 'https://10.1.2.3/x', 'https://192.168.0.1/x', 'https://172.20.0.1/x', 'https://169.254.169.254/latest', 'https://[::1]/x', 'https://[fe80::1]/x', 'https://[::ffff:127.0.0.1]/x', 'https://0.0.0.0/x']) {
        expect(await refused(url)).toMatch(/private, loopback or link-local address/);
      }
      // A name that resolves to loopback is refused too.
      expect(await refused('https://localhost/x')).toMatch(/private, loopback or link-local address \((127\.0\.0\.1|::1)\)/);
    } finally {
      await strict.close();
    }
    // With SHAHN_WEBHOOK_ALLOW_PRIVATE, http is allowed to a private address only.
    expect((await api('POST', '/v3/webhooks', { url: 'http://localhost:9/x' })).status).toBe(200);
  });

  it('a host name is resolved at each delivery and the address connected to is checked', async () => {
    const rx = await receiver();
    closers.push(rx.close);
    const ep = await addEndpoint(rx.url.replace('127.0.0.1', 'localhost'));
    // This dispatcher allows private addresses: delivered through the name.
    startDispatcher();
    await api('POST', `/v3/webhooks/${ep.id}/test`);
    dispatcher!.kick();
    await waitUntil(() => rx.got.length === 1, 5_000, 'delivered to localhost');
    await dispatcher!.stop();
    // One that does not: the name resolves to loopback, the attempt fails before anything is sent.
    dispatcher = new WebhookDispatcher({ store: ctx.deps.store, clock: ctx.clock, logger: silentLog }, { pollMs: 50, allowPrivate: false, scheduleMs: [100] });
    dispatcher.start();
    await api('POST', `/v3/webhooks/${ep.id}/test`);
    dispatcher.kick();
    await waitUntil(async () => (await ctx.sql.all(`SELECT last_error FROM outbox WHERE kind = 'webhook' AND subject = ? AND delivered_at IS NULL AND last_error IS NOT NULL`, [ep.id])).length === 1, 5_000, 'the attempt refused');
    const [row] = await ctx.sql.all(`SELECT last_error FROM outbox WHERE kind = 'webhook' AND subject = ? AND delivered_at IS NULL AND last_error IS NOT NULL`, [ep.id]);
    expect(JSON.parse(String(row!.last_error)).error).toMatch(/localhost resolves to a private address/);
    expect(rx.got).toHaveLength(1);
  });

  it('every status change is an event, signed (standardwebhooks and the SDK verify it), with the check-id object then and an increasing sequence; support resolutions too', async () => {
    const rx = await receiver();
    closers.push(rx.close);
    const ep = await addEndpoint(rx.url);
    startDispatcher();
    const gw = new ManualGateway();
    processor = makeProcessor(ctx, gw);
    await processor.start();
    const id = await send();
    await gw.answer(id, { kind: 'UNKNOWN', reason: 'garbled' });
    await waitUntil(() => rx.got.length === 2, 5_000, 'two events');
    await resolveOrder(ctx.deps, { actor: 'amina', orderId: id, to: 'FULFILLED', reason: 'the operator confirmed it' });
    dispatcher!.kick();
    await waitUntil(() => rx.got.length === 3, 5_000, 'the resolution event');
    const wh = new Webhook(ep.secret);
    const events = rx.got.map((g) => {
      const headers = { 'webhook-id': String(g.headers['webhook-id']), 'webhook-timestamp': String(g.headers['webhook-timestamp']), 'webhook-signature': String(g.headers['webhook-signature']) };
      const independent = wh.verify(g.body, headers) as { type: string; data: Record<string, unknown> };
      expect(verifyWebhook(g.body, g.headers, ep.secret)).toEqual(independent);
      return independent;
    });
    // Deliveries run side by side and may arrive out of order: the sequence orders them.
    events.sort((x, y) => Number(x.data.sequence) - Number(y.data.sequence));
    expect(events.map((e) => [e.type, e.data.status, e.data.sequence])).toEqual([
      ['topup.handling', 'HANDLING', 1],
      ['topup.unknown_error', 'UNKNOWN_ERROR', 2],
      ['topup.fulfilled', 'FULFILLED', 3],
    ]);
    expect(events[2]!.data.resolved_by).toBe('support');
    expect(events[0]!.data.resolved_by).toBeUndefined();
    // The data is the check-id object (plus the sequence).
    const now = (await call(ctx, 'GET', `/v3/mobile/check-id/${id}`, { key: key() })).body.data;
    const { sequence, resolved_by, ...last } = events[2]!.data;
    expect([sequence, resolved_by]).toEqual([3, 'support']);
    expect(last).toEqual(now);
    expect(events[1]!.data.refund_message).toBeDefined();
    // A body changed in transit, a wrong secret, or an old time stamp do not verify.
    const g = rx.got[0]!;
    expect(() => verifyWebhook(g.body.replace('topup.', 'topup.x'), g.headers, ep.secret)).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(g.body, g.headers, `whsec_${Buffer.alloc(32, 1).toString('base64')}`)).toThrow(/no signature matches/);
    expect(() => verifyWebhook(g.body, g.headers, ep.secret, { now: Date.now() + 600_000 })).toThrow(/more than 300 s from now/);
    // The delivery log, newest first (once the last reply is recorded); then a replay of the window: the same events, the same ids.
    await dispatcher!.drain();
    const log = (await api('GET', `/v3/webhooks/${ep.id}/deliveries?pageSize=10`)).body.data;
    expect(log.pagination).toMatchObject({ totalResults: 3 });
    expect(log.items.map((d: { type: string; attempts: number; lastStatusCode: number; nextAttemptAt: string | null }) => [d.type, d.attempts, d.lastStatusCode, d.nextAttemptAt]).sort()).toEqual(
      [['topup.fulfilled', 1, 200, null], ['topup.handling', 1, 200, null], ['topup.unknown_error', 1, 200, null]].sort(),
    );
    const window = { from: new Date(ctx.clock.now() - 60_000).toISOString(), to: new Date(ctx.clock.now() + 60_000).toISOString() };
    expect((await api('POST', `/v3/webhooks/${ep.id}/replay`, window)).body.data).toEqual({ replayed: 3 });
    dispatcher!.kick();
    await waitUntil(() => rx.got.length === 6, 5_000, 'the replayed events');
    const firstIds = rx.got.slice(0, 3).map((x) => x.headers['webhook-id']).sort();
    expect(rx.got.slice(3).map((x) => x.headers['webhook-id']).sort()).toEqual(firstIds);
    expect(rx.got.slice(3).map((x) => x.body).sort()).toEqual(rx.got.slice(0, 3).map((x) => x.body).sort());
    const bad = await api('POST', `/v3/webhooks/${ep.id}/replay`, { from: window.to, to: window.from });
    expect(bad.body).toMatchObject({ success: false, error: { code: 'ERR_VALIDATION', message: 'body/from must not be after to' } });
  });

  it('a receiver failing the first attempts gets the same webhook-id each time; 410 disables the endpoint with an alert; 429 waits its Retry-After', async () => {
    const flaky = await receiver((n, _req, res) => res.writeHead(n <= 2 ? 500 : 200).end(n <= 2 ? 'down' : 'ok'));
    const gone = await receiver((_n, _req, res) => res.writeHead(410).end('gone'));
    const busy = await receiver((n, _req, res) => (n === 1 ? res.writeHead(429, { 'retry-after': '7' }).end('slow down') : res.writeHead(200).end()));
    closers.push(flaky.close, gone.close, busy.close);
    const [a, b, c] = [await addEndpoint(flaky.url), await addEndpoint(gone.url), await addEndpoint(busy.url)];
    const gw = new ManualGateway();
    processor = makeProcessor(ctx, gw);
    await processor.start();
    startDispatcher();
    const id = await send();
    await gw.waitForCall(id);
    // 429 with Retry-After: 7 → its next attempt not before 7 s later (the test clock has not moved).
    const busyRow = async () => (await ctx.sql.all(`SELECT next_attempt_at, attempts, last_error FROM outbox WHERE kind = 'webhook' AND subject = ?`, [c.id]))[0]!;
    await waitUntil(async () => Number((await busyRow()).attempts) === 1, 5_000, 'the 429 recorded');
    const row = await busyRow();
    expect(JSON.parse(String(row.last_error))).toMatchObject({ status: 429 });
    expect(Number(row.next_attempt_at) - ctx.clock.now()).toBeGreaterThanOrEqual(7_000);
    expect(busy.got).toHaveLength(1);
    // 410: disabled at once, not tried again; an alert for support.
    await waitUntil(async () => (await ctx.deps.store.webhooks.getEndpoint(b.id))?.disabledAt !== null, 5_000, 'disabled');
    expect((await ctx.deps.store.webhooks.getEndpoint(b.id))!.disabledReason).toBe('the endpoint answered 410 Gone');
    expect((await ctx.sql.all('SELECT subject FROM outbox WHERE topic = ?', ['WEBHOOK_DISABLED'])).map((r) => r.subject)).toEqual([b.id]);
    // Each failed attempt waits 100 ms of the (test) schedule: move the test clock on.
    await waitUntil(async () => {
      ctx.clock.advance(150);
      dispatcher!.kick();
      return flaky.got.length >= 3;
    }, 10_000, 'the third attempt');
    const ids = flaky.got.map((g) => g.headers['webhook-id']);
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toMatch(/^evt_[0-9a-f]{24}$/);
    await waitUntil(async () => (await ctx.sql.all(`SELECT delivered_at FROM outbox WHERE kind = 'webhook' AND subject = ? AND delivered_at IS NOT NULL`, [a.id])).length === 1, 5_000, 'delivered on the third attempt');
    // The delivery log: each attempt with its status, duration and the start of the answer; the body sent.
    const [delivery] = (await api('GET', `/v3/webhooks/${a.id}/deliveries`)).body.data.items as { id: string; eventId: string; attempts: number; lastStatusCode: number }[];
    expect(delivery).toMatchObject({ eventId: ids[0], attempts: 3, lastStatusCode: 200 });
    const detail = (await api('GET', `/v3/webhooks/${a.id}/deliveries/${delivery!.id}`)).body.data as { attemptLog: { attempt: number; statusCode: number; response: string; error: string | null; durationMs: number }[]; body: string };
    expect(detail.attemptLog.map((t) => [t.attempt, t.statusCode, t.response])).toEqual([[1, 500, 'down'], [2, 500, 'down'], [3, 200, 'ok']]);
    expect(detail.attemptLog[0]!.error).toMatch(/HTTP 500/);
    expect(detail.attemptLog[2]!.error).toBeNull();
    expect(detail.attemptLog.every((t) => t.durationMs >= 0)).toBe(true);
    expect(detail.body).toBe(flaky.got[2]!.body);
    expect((await api('GET', `/v3/webhooks/${b.id}/deliveries/${delivery!.id}`)).body.error.code).toBe('NOT_FOUND');
    expect((await api('GET', `/v3/webhooks/${a.id}/deliveries/not-an-id`)).body.error.code).toBe('ERR_VALIDATION');
    // The busy endpoint gets its event once the 7 s are over; the gone one never again.
    ctx.clock.advance(7_000);
    dispatcher!.kick();
    await waitUntil(() => busy.got.length === 2, 5_000, 'the retry after Retry-After');
    expect(busy.got[1]!.headers['webhook-id']).toBe(busy.got[0]!.headers['webhook-id']);
    expect(gone.got).toHaveLength(1);
    await gw.answer(id, { kind: 'FULFILLED' });
  });

  it('an endpoint whose deliveries fail for 5 days is disabled, with an alert; one success in between starts the count again', async () => {
    let ok = false;
    const rx = await receiver((_n, _req, res) => res.writeHead(ok ? 200 : 500).end());
    closers.push(rx.close);
    const ep = await addEndpoint(rx.url);
    startDispatcher({ scheduleMs: [1_000, 1_000, 1_000, 1_000, 1_000, 1_000] });
    const ping = async () => {
      await api('POST', `/v3/webhooks/${ep.id}/test`);
      dispatcher!.kick();
    };
    const attempts = async (n: number) => waitUntil(() => rx.got.length >= n, 5_000, `${n} attempts`);
    await ping();
    await attempts(1);
    await dispatcher!.drain();
    const t0 = ctx.clock.now();
    expect((await ctx.deps.store.webhooks.getEndpoint(ep.id))!.failingSince).toBe(t0);
    // Four days on, it fails again: still enabled. Then one success: the count starts again.
    ctx.clock.advance(4 * 86_400_000);
    dispatcher!.kick();
    await attempts(2);
    await dispatcher!.drain();
    expect((await ctx.deps.store.webhooks.getEndpoint(ep.id))!.disabledAt).toBeNull();
    ok = true;
    await ping();
    await attempts(3);
    await dispatcher!.drain();
    ctx.clock.advance(1_200); // the first ping's next attempt (1 s ± 10 %)
    dispatcher!.kick();
    await attempts(4);
    await dispatcher!.drain();
    expect((await ctx.deps.store.webhooks.getEndpoint(ep.id))!.failingSince).toBeNull();
    // Failing again from now: after 5 more days of failures, disabled.
    ok = false;
    await ping();
    await attempts(5);
    await dispatcher!.drain();
    ctx.clock.advance(5 * 86_400_000);
    dispatcher!.kick();
    await waitUntil(async () => (await ctx.deps.store.webhooks.getEndpoint(ep.id))!.disabledAt !== null, 5_000, 'disabled');
    expect((await ctx.deps.store.webhooks.getEndpoint(ep.id))!.disabledReason).toBe('every delivery failed for 5 days');
    expect((await ctx.sql.all('SELECT subject FROM outbox WHERE topic = ?', ['WEBHOOK_DISABLED'])).map((r) => r.subject)).toEqual([ep.id]);
    // A disabled endpoint gets nothing more, and says why in the list.
    expect((await api('GET', '/v3/webhooks')).body.data.items[0]).toMatchObject({ id: ep.id, disabledReason: 'every delivery failed for 5 days' });
    expect((await api('POST', `/v3/webhooks/${ep.id}/test`)).body.error.code).toBe('ERR_VALIDATION');
    // Fixed, the merchant puts it back in service (a read-only key may not); the next event reaches it.
    const readOnly = await addTestKey(ctx, { scope: 'READ-ONLY', type: 'PRODUCTION' });
    expect((await api('POST', `/v3/webhooks/${ep.id}/enable`, undefined, readOnly)).body.error.code).toBe('READ_ONLY_KEY');
    ok = true;
    expect((await api('POST', `/v3/webhooks/${ep.id}/enable`)).body.data).toMatchObject({ id: ep.id, disabledAt: null, disabledReason: null });
    expect((await api('POST', `/v3/webhooks/${ep.id}/enable`)).body.error).toMatchObject({ code: 'ERR_VALIDATION', details: { reason: 'not_disabled' } });
    expect((await ctx.deps.store.webhooks.getEndpoint(ep.id))!.failingSince).toBeNull();
    const before = rx.got.length;
    await ping();
    await waitUntil(() => rx.got.some((g, i) => i >= before && JSON.parse(g.body).type === 'ping'), 5_000, 'a ping after enabling');
    expect((await ctx.sql.all('SELECT action FROM audit_log WHERE target = ? ORDER BY at', [ep.id])).map((r) => r.action)).toEqual(['webhook.disabled', 'webhook.enabled']);
  });

  it('a receiver that takes 20 s, with a backlog of 2,500 events, does not delay another endpoint', async () => {
    const slow = await receiver((_n, _req, res) => void setTimeout(() => res.writeHead(200).end(), 20_000));
    const fast = await receiver();
    closers.push(async () => slow.close(), fast.close);
    const s = await addEndpoint(slow.url);
    await addEndpoint(fast.url);
    // 2,500 events wait for the slow endpoint, far more than the dispatcher sends one endpoint at once:
    // the other endpoint's events are claimed past that backlog, not behind it.
    const slowEndpoint = (await ctx.deps.store.webhooks.getEndpoint(s.id))!;
    for (let i = 0; i < 100; i++) await Promise.all(Array.from({ length: 25 }, (_, j) => ctx.deps.store.webhooks.enqueueTest(slowEndpoint, `evt_backlog_${i}_${j}`, ctx.clock.now())));
    startDispatcher({ timeoutMs: 3_000 });
    const gw = new ManualGateway();
    processor = makeProcessor(ctx, gw);
    await processor.start();
    const t0 = Date.now();
    const id = await send();
    await gw.answer(id, { kind: 'FULFILLED' });
    await waitUntil(() => fast.got.length === 2, 2_500, 'both events at the fast endpoint');
    expect(Date.now() - t0).toBeLessThan(2_500);
    // The slow endpoint holds at most its share of the deliveries at once.
    expect(slow.got.length).toBeGreaterThanOrEqual(1);
    expect(slow.got.length).toBeLessThanOrEqual(16);
    // The backlog (and the order's two events) left as they were, but for the slow endpoint's share in flight.
    const untouched = await ctx.sql.all(`SELECT COUNT(*) AS n FROM outbox WHERE kind = 'webhook' AND subject = ? AND next_attempt_at = ?`, [s.id, ctx.clock.now()]);
    expect(Number(untouched[0]!.n)).toBe(2_500 + 2 - 16);
  });

  it('two dispatchers on one store (two processes) deliver each event once, to two endpoints, both doing part of the work', async () => {
    const a = await receiver();
    const b = await receiver();
    closers.push(a.close, b.close);
    const endpoints = [(await addEndpoint(a.url)).id, (await addEndpoint(b.url)).id];
    for (let i = 0; i < 100; i++) for (const id of endpoints) await api('POST', `/v3/webhooks/${id}/test`);
    // The second one's attempts are counted as it records them.
    let bySecond = 0;
    const webhooks = ctx.deps.store.webhooks;
    const counted = { ...ctx.deps.store, webhooks: { ...webhooks, finishAttempt: (...args: Parameters<typeof webhooks.finishAttempt>) => (bySecond++, webhooks.finishAttempt(...args)) } };
    const make = (store = ctx.deps.store) => new WebhookDispatcher({ store, clock: ctx.clock, logger: silentLog }, { pollMs: 10, allowPrivate: true, concurrency: 8, perEndpoint: 4 });
    const second = make(counted);
    dispatcher = make();
    closers.push(() => second.stop());
    dispatcher.start();
    second.start();
    await waitUntil(() => a.got.length >= 100 && b.got.length >= 100, 15_000, 'every event at both endpoints');
    await dispatcher.drain();
    await second.drain();
    for (const rx of [a, b]) {
      const ids = rx.got.map((g) => String(g.headers['webhook-id']));
      expect(ids).toHaveLength(100);
      expect(new Set(ids).size).toBe(100);
    }
    // One attempt per event in the log; each process made some of them.
    const attempts = await ctx.sql.all(`SELECT COUNT(*) AS n FROM webhook_attempts`);
    expect(Number(attempts[0]!.n)).toBe(200);
    expect(bySecond).toBeGreaterThan(0);
    expect(bySecond).toBeLessThan(200);
  });

  it('a rotated secret: both signatures for 24 h, each verifies; a test event reaches the endpoint', async () => {
    const rx = await receiver();
    closers.push(rx.close);
    const ep = await addEndpoint(rx.url);
    const rotated = (await api('POST', `/v3/webhooks/${ep.id}/rotate-secret`)).body.data as { secret: string; previousSecretExpiresAt: string };
    expect(rotated.secret).not.toBe(ep.secret);
    expect(Date.parse(rotated.previousSecretExpiresAt) - ctx.clock.now()).toBe(24 * 3_600_000);
    startDispatcher();
    const test = await api('POST', `/v3/webhooks/${ep.id}/test`);
    expect(test.body.data.eventId).toMatch(/^evt_/);
    await waitUntil(() => rx.got.length === 1, 5_000, 'the ping');
    const g = rx.got[0]!;
    expect(String(g.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifyWebhook(g.body, g.headers, ep.secret)).toMatchObject({ type: 'ping' });
    expect(verifyWebhook(g.body, g.headers, rotated.secret)).toMatchObject({ type: 'ping' });
    const headers = { 'webhook-id': String(g.headers['webhook-id']), 'webhook-timestamp': String(g.headers['webhook-timestamp']), 'webhook-signature': String(g.headers['webhook-signature']) };
    expect(new Webhook(ep.secret).verify(g.body, headers)).toMatchObject({ type: 'ping' });
    expect(new Webhook(rotated.secret).verify(g.body, headers)).toMatchObject({ type: 'ping' });
    // After 24 h only the new secret signs.
    await dispatcher!.drain();
    ctx.clock.advance(24 * 3_600_000 + 1);
    await api('POST', `/v3/webhooks/${ep.id}/test`);
    dispatcher!.kick();
    await waitUntil(() => rx.got.length === 2, 5_000, 'the second ping');
    expect(String(rx.got[1]!.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() => verifyWebhook(rx.got[1]!.body, rx.got[1]!.headers, ep.secret)).toThrow(/no signature matches/);
  });

  it("sandbox events at the sandbox timeline's moments, to sandbox endpoints only; a support decision replaces the moments still to come", async () => {
    const sandboxRx = await receiver();
    const productionRx = await receiver();
    closers.push(sandboxRx.close, productionRx.close);
    const ep = await addEndpoint(sandboxRx.url, {}, ctx.merchant.sandboxKey);
    await addEndpoint(productionRx.url);
    startDispatcher({ sandbox: ctx.config.sandbox });
    const t0 = ctx.clock.now();
    const ok = await send('0661234567', ctx.merchant.sandboxKey);
    const suggest = await send('0600000002', ctx.merchant.sandboxKey);
    const unknown = await send('0600000003', ctx.merchant.sandboxKey);
    const decided = await send('0600000003', ctx.merchant.sandboxKey);
    await new Promise((r) => setTimeout(r, 300));
    expect(sandboxRx.got).toHaveLength(0); // nothing before its moment
    const events = () =>
      sandboxRx.got.map((g) => verifyWebhook(g.body, g.headers, ep.secret) as { type: string; data: { _id: string; status: string; sequence: number; suggested_offers?: unknown; refund_message?: string; resolved_by?: string } });
    const at = async (ms: number, count: number) => {
      // Deliveries in flight end first: a jump of the clock past their claim's lease would send them again (at least once).
      await dispatcher!.drain();
      ctx.clock.advance(t0 + ms - ctx.clock.now());
      dispatcher!.kick();
      await waitUntil(() => sandboxRx.got.length === count, 5_000, `${count} events at +${ms} ms`).catch((e: Error) => { throw new Error(`${e.message}: ${JSON.stringify(events().map((x) => [x.data._id.slice(-4), x.type, x.data.sequence]))}`); });
    };
    const byOrder = (id: string) => events().filter((e) => e.data._id === id).sort((x, y) => x.data.sequence - y.data.sequence);
    await at(5_000, 4);
    expect(events().map((e) => [e.data._id, e.type, e.data.status, e.data.sequence]).sort()).toEqual([ok, suggest, unknown, decided].map((id) => [id, 'topup.handling', 'HANDLING', 1]).sort());
    await at(15_000, 8);
    expect(byOrder(ok).map((e) => [e.type, e.data.status])).toEqual([['topup.handling', 'HANDLING'], ['topup.fulfilled', 'FULFILLED']]);
    expect(byOrder(suggest)[1]).toMatchObject({ type: 'topup.refunded', data: { status: 'REFUNDED', suggested_offers: [{ plan_code: 'FACTURE_DJEZZY', amount: 100 }] } });
    expect(byOrder(unknown)[1]).toMatchObject({ type: 'topup.unknown_error', data: { status: 'UNKNOWN_ERROR', sequence: 2 } });
    // Support decides one UNKNOWN_ERROR order: its own event now, and its scheduled resolution is never sent.
    await dispatcher!.drain(); // the endpoint's share of deliveries free again (the test clock does not move on its own)
    await resolveOrder(ctx.deps, { actor: 'amina', orderId: decided, to: 'FULFILLED', reason: 'the operator confirmed it' });
    dispatcher!.kick();
    await waitUntil(() => sandboxRx.got.length === 9, 5_000, 'the support event');
    expect(byOrder(decided).map((e) => [e.type, e.data.sequence, e.data.resolved_by])).toEqual([['topup.handling', 1, undefined], ['topup.unknown_error', 2, undefined], ['topup.fulfilled', 4, 'support']]);
    // 12 h later the sandbox's UNKNOWN_ERROR resolves to REFUNDED: for the order support left alone only.
    await at(12 * 3_600_000, 10);
    expect(byOrder(unknown)[2]).toMatchObject({ type: 'topup.refunded', data: { status: 'REFUNDED', sequence: 3 } });
    await new Promise((r) => setTimeout(r, 200));
    expect(sandboxRx.got).toHaveLength(10);
    expect(byOrder(decided)).toHaveLength(3);
    expect(productionRx.got).toHaveLength(0);
  });
});
