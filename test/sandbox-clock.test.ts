/**
 * The sandbox clock (contract section 6) and the test numbers 0600000004–07: each number through its
 * whole timeline by advancing the clock alone (the test's own clock stands still), on the fastify
 * routes and the check-id hot path, in the list and its status filter; two merchants with their own
 * offsets; concurrent advances summed, with sends racing them; the offset seen by a second API
 * process on the same store and kept across a restart of `shahn serve`; a PRODUCTION key refused; the
 * lost reply; sandbox webhook messages moved with the clock; production untouched.
 * Both stores: the offset lives in the store (sandbox_clocks) and the status filter is SQL.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MESSAGES } from '@shahn/contract';
import { createMerchant, type CreatedMerchant } from '../src/domain/create-merchant.js';
import { buildDeps } from '../src/runtime/build-deps.js';
import { buildApp } from '../src/server/build-app.js';
import { call, expectEnvelope, freshDatabase, makeContext, tempDir, type TestContext } from './helpers.js';
import { startServe, type ServeProcess } from './serve-process.js';
import { silentLog } from './processor-helpers.js';

describe('the sandbox clock', () => {
  let ctx: TestContext;
  let base: string;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 1000, env: { SHAHN_WEBHOOK_ALLOW_PRIVATE: 'true' } });
    base = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterEach(async () => {
    await ctx.close();
  });

  const key = () => ctx.merchant.sandboxKey;
  const advance = async (seconds: number, k = key()) => {
    const r = await call(ctx, 'POST', '/v3/sandbox/clock/advance', { key: k, body: { seconds } });
    expectEnvelope(r);
    return r;
  };
  const send = async (MSSIDN: string, k = key(), ref?: string) => call(ctx, 'POST', '/v3/mobile/send', { key: k, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN, amount: 500, ...(ref ? { ref } : {}) } });
  /** check-id through fastify (inject) and through the hot path (a real request): they must agree. */
  const status = async (id: string, k = key()) => {
    const slow = await call(ctx, 'GET', `/v3/mobile/check-id/${id}`, { key: k });
    const fast = (await (await fetch(`${base}/v3/mobile/check-id/${id}`, { headers: { 'X-Access-Token': k } })).json()) as { data: Record<string, unknown> };
    expect(fast.data).toEqual(slow.body.data);
    return slow.body.data as { status: string; refund_message?: string; created_at: string };
  };

  it('reads, advances and resets; a PRODUCTION key gets 403 SANDBOX_ONLY; bad advances are 400', async () => {
    const start = new Date(ctx.clock.now()).toISOString();
    const first = await call(ctx, 'GET', '/v3/sandbox/clock', { key: key() });
    expectEnvelope(first);
    expect(first.body.data).toEqual({ now: start, offsetSeconds: 0 });
    expect((await advance(90)).body.data).toEqual({ now: new Date(ctx.clock.now() + 90_000).toISOString(), offsetSeconds: 90 });
    expect((await advance(30 * 86_400)).body.data.offsetSeconds).toBe(90 + 30 * 86_400);
    for (const seconds of [0, -5, 1.5, 30 * 86_400 + 1, '10', null]) {
      const r = await call(ctx, 'POST', '/v3/sandbox/clock/advance', { key: key(), body: { seconds } });
      expect(r.status, String(seconds)).toBe(400);
      expect(r.body.error.code).toBe('ERR_VALIDATION');
    }
    // At most 366 days ahead in all.
    for (let i = 0; i < 11; i++) await advance(30 * 86_400);
    const over = await call(ctx, 'POST', '/v3/sandbox/clock/advance', { key: key(), body: { seconds: 30 * 86_400 } });
    expect(over.status).toBe(400);
    expect(over.body.error.details).toMatchObject({ field: 'seconds', reason: 'maximum' });
    const reset = await call(ctx, 'POST', '/v3/sandbox/clock/reset', { key: key() });
    expectEnvelope(reset);
    expect(reset.body.data).toEqual({ now: start, offsetSeconds: 0 });
    for (const [method, path] of [['GET', '/v3/sandbox/clock'], ['POST', '/v3/sandbox/clock/advance'], ['POST', '/v3/sandbox/clock/reset']] as const) {
      const r = await call(ctx, method, path, { key: ctx.merchant.productionKey, ...(method === 'POST' ? { body: { seconds: 5 } } : {}) });
      expectEnvelope(r);
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('SANDBOX_ONLY');
    }
    expect((await call(ctx, 'GET', '/v3/sandbox/clock')).status).toBe(401);
  });

  it('moves every test number through its timeline, the hot path and the list agreeing', async () => {
    const numbers = ['0778037340', '0600000001', '0600000002', '0600000003', '0600000004', '0600000005', '0600000006'];
    const ids: string[] = [];
    for (const n of numbers) {
      const r = await send(n);
      expect(r.status).toBe(200);
      ids.push(r.body.data.topupId);
    }
    const at = async () => Promise.all(ids.map(async (id) => (await status(id)).status));
    // (seconds to advance, then each number's status)
    const steps: [number, string[]][] = [
      [0, ['PENDING', 'PENDING', 'PENDING', 'PENDING', 'PENDING', 'PENDING', 'PENDING']],
      [5, ['HANDLING', 'HANDLING', 'HANDLING', 'HANDLING', 'HANDLING', 'HANDLING', 'PENDING']],
      [10, ['FULFILLED', 'REFUNDED', 'REFUNDED', 'UNKNOWN_ERROR', 'UNKNOWN_ERROR', 'UNKNOWN_ERROR', 'PENDING']],
      [585, ['FULFILLED', 'REFUNDED', 'REFUNDED', 'UNKNOWN_ERROR', 'UNKNOWN_ERROR', 'UNKNOWN_ERROR', 'HANDLING']],
      [10, ['FULFILLED', 'REFUNDED', 'REFUNDED', 'UNKNOWN_ERROR', 'UNKNOWN_ERROR', 'UNKNOWN_ERROR', 'FULFILLED']],
      [3600 - 610, ['FULFILLED', 'REFUNDED', 'REFUNDED', 'UNKNOWN_ERROR', 'FULFILLED', 'REFUNDED', 'FULFILLED']],
      [12 * 3600, ['FULFILLED', 'REFUNDED', 'REFUNDED', 'REFUNDED', 'FULFILLED', 'REFUNDED', 'FULFILLED']],
    ];
    for (const [seconds, want] of steps) {
      if (seconds > 0) await advance(seconds);
      expect(await at(), `after +${seconds} s`).toEqual(want);
      // The status filter (SQL, the console's orders page) sees the same statuses, at real time (the
      // store adds the merchant's offset itself).
      for (const s of ['PENDING', 'HANDLING', 'FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR'] as const) {
        const page = await ctx.deps.store.orders.listOrdersFiltered(ctx.merchant.id, 'SANDBOX', { status: s, now: ctx.clock.now(), timeline: ctx.config.sandbox }, { offset: 0, limit: 50 });
        expect(page.items.map((o) => o.id).sort(), `${s} after +${seconds} s`).toEqual(ids.filter((_, i) => want[i] === s).sort());
      }
      const list = await call(ctx, 'GET', '/v3/mobile/list?pageSize=50', { key: key() });
      expect(Object.fromEntries(list.body.data.items.map((o: { _id: string; status: string }) => [o._id, o.status]))).toEqual(Object.fromEntries(ids.map((id, i) => [id, want[i]])));
    }
    const late = await status(ids[4]!);
    expect(late.refund_message).toBeUndefined();
    expect((await status(ids[5]!)).refund_message).toBe(MESSAGES.REFUNDED_AFTER_REVIEW);
    // Production did not move.
    const prod = await send('0778037340', ctx.merchant.productionKey);
    expect((await status(prod.body.data.topupId, ctx.merchant.productionKey)).status).toBe('PENDING');
  });

  it('creates an order at the sandbox time: after an advance a new order starts its timeline then', async () => {
    await advance(3600);
    const r = await send('0778037340');
    const d = await status(r.body.data.topupId);
    expect(d).toMatchObject({ status: 'PENDING', created_at: new Date(ctx.clock.now() + 3600_000).toISOString() });
    await advance(15);
    expect((await status(r.body.data.topupId)).status).toBe('FULFILLED');
    // A reset takes the clock back: the order was made an hour ahead of real time, so it looks just made.
    await call(ctx, 'POST', '/v3/sandbox/clock/reset', { key: key() });
    expect((await status(r.body.data.topupId)).status).toBe('PENDING');
  });

  it('0600000007: the order is recorded but the send answers 500; check-ref finds it; the same ref again is DUPLICATED_REF', async () => {
    const r = await send('0600000007', key(), 'lost-1');
    expectEnvelope(r);
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('INTERNAL_ERROR');
    const found = await call(ctx, 'GET', '/v3/mobile/check-ref/lost-1', { key: key() });
    expect(found.status).toBe(200);
    expect(found.body.data).toMatchObject({ ref: 'lost-1', MSSIDN: '0600000007', status: 'PENDING' });
    const again = await send('0600000007', key(), 'lost-1');
    expect(again.status).toBe(403);
    expect(again.body.error.code).toBe('DUPLICATED_REF');
    expect(again.body.error.details.topupId).toBe(found.body.data._id);
    await advance(15);
    expect((await status(found.body.data._id)).status).toBe('FULFILLED');
    // Only the sandbox has the trap: in production the number is not a valid DJEZZY number at all.
    expect((await send('0600000007', ctx.merchant.productionKey)).status).toBe(400);
  });

  it('keeps two merchants apart, and a second API process on the same store sees the offset', async () => {
    const other: CreatedMerchant = await createMerchant(ctx.deps, { username: '+213770000031', balance: 0 });
    const mine = (await send('0600000004')).body.data.topupId as string;
    const theirs = (await send('0600000004', other.sandboxKey)).body.data.topupId as string;
    await advance(3600);
    expect((await status(mine)).status).toBe('FULFILLED');
    expect((await status(theirs, other.sandboxKey)).status).toBe('PENDING');
    await advance(20, other.sandboxKey);
    expect((await status(theirs, other.sandboxKey)).status).toBe('UNKNOWN_ERROR');
    expect((await call(ctx, 'GET', '/v3/sandbox/clock', { key: other.sandboxKey })).body.data.offsetSeconds).toBe(20);

    // Another process: its own app and deps over the same store, as a second `serve` would have.
    const second = await buildApp(buildDeps(ctx.config, ctx.deps.store, { clock: ctx.clock }), { logger: silentLog });
    try {
      const r = await second.inject({ method: 'GET', url: '/v3/sandbox/clock', headers: { 'x-access-token': key() } });
      expect(r.json().data.offsetSeconds).toBe(3600);
      const c = await second.inject({ method: 'GET', url: `/v3/mobile/check-id/${mine}`, headers: { 'x-access-token': key() } });
      expect(c.json().data.status).toBe('FULFILLED');
      // An advance through the second process is seen by the first at once.
      await second.inject({ method: 'POST', url: '/v3/sandbox/clock/advance', headers: { 'x-access-token': other.sandboxKey }, payload: { seconds: 3600 } });
      expect((await status(theirs, other.sandboxKey)).status).toBe('FULFILLED');
    } finally {
      await second.close();
    }
  });

  it('sums concurrent advances, and the sends between them are scheduled on one offset or the other, never on a torn one', async () => {
    const webhook = await call(ctx, 'POST', '/v3/webhooks', { key: key(), body: { url: 'http://127.0.0.1:9/hook' } });
    expect(webhook.status).toBe(200);
    const seconds = Array.from({ length: 20 }, (_, i) => i + 1);
    const results = await Promise.all([
      ...seconds.map(async (n) => (await advance(n)).status),
      ...seconds.map(async (_, i) => (await send('0778037340', key(), `race-${i}`)).status),
    ]);
    expect(results).toEqual(new Array(40).fill(200));
    expect((await call(ctx, 'GET', '/v3/sandbox/clock', { key: key() })).body.data.offsetSeconds).toBe(210);
    // Each order's messages (topup.handling at 5 s of its age, topup.fulfilled at 15 s) fall due at
    // those ages on the final clock: a send read the offset as it stood, and every advance after it
    // moved its messages. A send that read an offset an advance then missed would be off by that advance.
    const events = new Map((await ctx.sql.all('SELECT id, order_id FROM webhook_events')).map((r) => [String(r.id), String(r.order_id)]));
    const created = new Map((await ctx.sql.all(`SELECT id, created_at FROM orders WHERE env = 'SANDBOX'`)).map((r) => [String(r.id), Number(r.created_at)]));
    const messages = await ctx.sql.all(`SELECT topic, payload, next_attempt_at FROM outbox WHERE kind = 'webhook' AND delivered_at IS NULL`);
    expect(messages).toHaveLength(40);
    const ages = messages.map((m) => {
      const order = events.get(String((JSON.parse(String(m.payload)) as { eventId: string }).eventId))!;
      // On the final clock (real time + 210 s) the message falls due when the order is this old.
      return `${String(m.topic)} ${Number(m.next_attempt_at) + 210_000 - created.get(order)!}`;
    });
    expect(new Set(ages)).toEqual(new Set(['topup.handling 5000', 'topup.fulfilled 15000']));
  });

  it('moves the due times of the merchant\'s sandbox webhook messages with the clock, and only those', async () => {
    const create = async (k: string) => {
      const r = await call(ctx, 'POST', '/v3/webhooks', { key: k, body: { url: 'http://127.0.0.1:9/hook' } });
      expect(r.status).toBe(200);
      return r.body.data.id as string;
    };
    const sandboxEndpoint = await create(key());
    const productionEndpoint = await create(ctx.merchant.productionKey);
    await send('0600000005');
    await send('0778037340', ctx.merchant.productionKey);
    const due = async (endpoint: string) =>
      (await ctx.sql.all(`SELECT next_attempt_at FROM outbox WHERE kind = 'webhook' AND subject = ? AND delivered_at IS NULL ORDER BY next_attempt_at`, [endpoint])).map((r) => Number(r.next_attempt_at));
    const now = ctx.clock.now();
    // topup.handling at 5 s, topup.unknown_error at 15 s, topup.refunded at 1 h.
    expect(await due(sandboxEndpoint)).toEqual([now + 5_000, now + 15_000, now + 3600_000]);
    const production = await due(productionEndpoint);
    await advance(600);
    expect(await due(sandboxEndpoint)).toEqual([now + 5_000 - 600_000, now + 15_000 - 600_000, now + 3000_000]);
    expect(await due(productionEndpoint)).toEqual(production);
    // An order sent after the advance: its messages are due on the sandbox clock too (in real time, 5 s on).
    await send('0778037340');
    expect((await due(sandboxEndpoint)).filter((t) => t >= now)).toEqual([now + 5_000, now + 15_000, now + 3000_000]);
    // A reset moves them all back by what it took away.
    await call(ctx, 'POST', '/v3/sandbox/clock/reset', { key: key() });
    expect(await due(sandboxEndpoint)).toEqual([now + 5_000, now + 15_000, now + 605_000, now + 615_000, now + 3600_000]);
    expect(await due(productionEndpoint)).toEqual(production);
  });

});

describe('the sandbox clock across a restart of `shahn serve`', () => {
  it('keeps the offset and what it moved', async () => {
    const fresh = await freshDatabase(tempDir('shahn-clock-'));
    const env = { SHAHN_DB: fresh.db, SHAHN_DEMO: 'true' };
    let server: ServeProcess | undefined = await startServe(env);
    try {
      const key = server.sandboxKey!;
      const api = async (path: string, body?: unknown) => {
        const res = await fetch(`${server!.url}${path}`, {
          method: body === undefined ? 'GET' : 'POST',
          headers: { 'x-access-token': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return ((await res.json()) as { data: Record<string, unknown> }).data;
      };
      const { topupId } = (await api('/v3/mobile/send', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000004', amount: 500 })) as { topupId: string };
      await api('/v3/sandbox/clock/advance', { seconds: 15 });
      expect((await api(`/v3/mobile/check-id/${topupId}`)).status).toBe('UNKNOWN_ERROR');
      await server.stop();
      server = undefined;
      server = await startServe(env);
      expect((await api('/v3/sandbox/clock')).offsetSeconds).toBe(15);
      expect((await api(`/v3/mobile/check-id/${topupId}`)).status).toBe('UNKNOWN_ERROR');
      await api('/v3/sandbox/clock/advance', { seconds: 3600 });
      expect((await api(`/v3/mobile/check-id/${topupId}`)).status).toBe('FULFILLED');
    } finally {
      await server?.stop();
      await fresh.drop();
    }
  }, 90_000);
});
