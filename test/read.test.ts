import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMerchant } from '../src/domain/create-merchant.js';
import { call, expectEnvelope, makeContext, type TestContext } from './helpers.js';

describe('reads: check-id, check-ref, list, transactions, plans, docs', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 100_000 });
  });
  afterEach(async () => {
    await ctx.close();
  });

  const sendP = (body: Record<string, unknown>) => call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body });

  it('NOT_FOUND for an unknown id and ref, with the public message', async () => {
    const id = await call(ctx, 'GET', '/v3/mobile/check-id/6901616fe9e88196b4eb64b0', { key: ctx.merchant.productionKey });
    expectEnvelope(id);
    expect(id.status).toBe(404);
    expect(id.body.error).toEqual({ code: 'NOT_FOUND', message: "Top-up with id '6901616fe9e88196b4eb64b0' not found" });
    const ref = await call(ctx, 'GET', '/v3/mobile/check-ref/order-12345', { key: ctx.merchant.productionKey });
    expect(ref.status).toBe(404);
    expect(ref.body.error).toEqual({ code: 'NOT_FOUND', message: "Top-up with reference 'order-12345' not found" });
  });

  it('a malformed id is ERR_VALIDATION', async () => {
    const r = await call(ctx, 'GET', '/v3/mobile/check-id/not-an-id', { key: ctx.merchant.productionKey });
    expectEnvelope(r);
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe('params/id must match pattern "^[0-9a-f]{24}$"');
  });

  it("another merchant's order is indistinguishable from a missing one", async () => {
    const other = await createMerchant(ctx.deps, { username: '+213770000001', balance: 1000 });
    const mine = await sendP({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref: 'shared-ref' });
    const missing = await call(ctx, 'GET', '/v3/mobile/check-id/6901616fe9e88196b4eb64b0', { key: other.productionKey });
    const foreign = await call(ctx, 'GET', `/v3/mobile/check-id/${mine.body.data.topupId}`, { key: other.productionKey });
    expect(foreign.status).toBe(missing.status);
    expect(foreign.body.error.code).toBe('NOT_FOUND');
    expect(foreign.body.error.message).toBe(`Top-up with id '${mine.body.data.topupId}' not found`);
    expect(Object.keys(foreign.body).sort()).toEqual(Object.keys(missing.body).sort());
    expect((await call(ctx, 'GET', '/v3/mobile/check-ref/shared-ref', { key: other.productionKey })).status).toBe(404);
    // The other merchant may use the same ref for itself.
    const theirs = await call(ctx, 'POST', '/v3/mobile/send', {
      key: other.productionKey,
      body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref: 'shared-ref' },
    });
    expect(theirs.status).toBe(200);
    expect((await call(ctx, 'GET', '/v3/mobile/list', { key: other.productionKey })).body.data.pagination.totalResults).toBe(1);
  });

  it('check-ref accepts every ref character of the contract', async () => {
    const ref = 'a.b_c:d@e+f-G9';
    await sendP({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref });
    const r = await call(ctx, 'GET', `/v3/mobile/check-ref/${encodeURIComponent(ref)}`, { key: ctx.merchant.productionKey });
    expect(r.status).toBe(200);
    expect(r.body.data.ref).toBe(ref);
  });

  it('list: newest first, paginated, with totals', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      ids.push((await sendP({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 + i })).body.data.topupId);
      ctx.clock.advance(1000);
    }
    const p1 = await call(ctx, 'GET', '/v3/mobile/list', { key: ctx.merchant.productionKey });
    expectEnvelope(p1);
    expect(p1.body.data.pagination).toEqual({ page: 1, pageSize: 20, totalPages: 2, totalResults: 25 });
    expect(p1.body.data.items[0]._id).toBe(ids[24]);
    const p2 = await call(ctx, 'GET', '/v3/mobile/list?page=2&pageSize=10', { key: ctx.merchant.productionKey });
    expect(p2.body.data.pagination).toEqual({ page: 2, pageSize: 10, totalPages: 3, totalResults: 25 });
    expect(p2.body.data.items.map((i: { _id: string }) => i._id)).toEqual(ids.slice(5, 15).reverse());
    const beyond = await call(ctx, 'GET', '/v3/mobile/list?page=9', { key: ctx.merchant.productionKey });
    expect(beyond.body.data.items).toEqual([]);
  });

  it('list: from and to are inclusive and go together', async () => {
    const t0 = ctx.clock.now();
    for (let i = 0; i < 5; i++) {
      await sendP({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 });
      ctx.clock.advance(60_000);
    }
    const from = new Date(t0 + 60_000).toISOString();
    const to = new Date(t0 + 180_000).toISOString();
    const r = await call(ctx, 'GET', `/v3/mobile/list?from=${from}&to=${to}`, { key: ctx.merchant.productionKey });
    expect(r.body.data.pagination.totalResults).toBe(3);
    const only = await call(ctx, 'GET', `/v3/mobile/list?from=${from}`, { key: ctx.merchant.productionKey });
    expectEnvelope(only);
    expect(only.status).toBe(400);
    expect(only.body.error).toMatchObject({ code: 'ERR_VALIDATION', message: 'querystring/to must be provided together with from' });
    const reversed = await call(ctx, 'GET', `/v3/mobile/list?from=${to}&to=${from}`, { key: ctx.merchant.productionKey });
    expect(reversed.status).toBe(400);
  });

  it('pagination parameters are validated', async () => {
    for (const q of ['page=0', 'pageSize=0', 'pageSize=101', 'page=abc', 'from=yesterday&to=today']) {
      const r = await call(ctx, 'GET', `/v3/mobile/list?${q}`, { key: ctx.merchant.productionKey });
      expectEnvelope(r);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code).toBe('ERR_VALIDATION');
      expect(r.body.error.message).toMatch(/^querystring\//);
    }
    const r = await call(ctx, 'GET', '/v3/account/transactions?pageSize=101', { key: ctx.merchant.productionKey });
    expect(r.body.error.message).toBe('querystring/pageSize must be <= 100');
  });

  it('transactions: every entry with oldBalance/newBalance, newest first, paginated', async () => {
    await sendP({ plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234567', amount: 1000 });
    ctx.clock.advance(1000);
    const tx = await call(ctx, 'GET', '/v3/account/transactions?pageSize=1', { key: ctx.merchant.productionKey });
    expectEnvelope(tx);
    expect(tx.body.data.pagination).toEqual({ page: 1, pageSize: 1, totalPages: 2, totalResults: 2 });
    const [entry] = tx.body.data.items;
    expect(entry).toMatchObject({ type: 'FLEXY', operation: 'DECREMENT', amount: 960, oldBalance: 100000, newBalance: 99040 });
    expect(entry._id).toMatch(/^[0-9a-f]{24}$/);
    expect(entry.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const page2 = await call(ctx, 'GET', '/v3/account/transactions?pageSize=1&page=2', { key: ctx.merchant.productionKey });
    expect(page2.body.data.items[0]).toMatchObject({ type: 'DEPOSIT', operation: 'INCREMENT', amount: 100000, oldBalance: 0, newBalance: 100000 });
  });

  it('transactions read as a chain after 100 concurrent sends: each entry starts where the next older one ended', async () => {
    const sends = await Promise.all(
      Array.from({ length: 100 }, (_, i) => sendP({ plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234567', amount: 100 + i, ref: `chain-${i}` })),
    );
    expect(sends.every((r) => r.status === 200)).toBe(true);
    const entries: { oldBalance: number; newBalance: number; type: string }[] = [];
    for (let page = 1; page <= 2; page++) {
      const r = await call(ctx, 'GET', `/v3/account/transactions?pageSize=100&page=${page}`, { key: ctx.merchant.productionKey });
      entries.push(...(r.body.data.items as typeof entries));
    }
    expect(entries).toHaveLength(101);
    const breaks = entries.slice(0, -1).filter((e, i) => e.oldBalance !== entries[i + 1]!.newBalance);
    expect(breaks).toEqual([]);
    expect(entries.at(-1)).toMatchObject({ type: 'DEPOSIT', oldBalance: 0 });
    const balance = (await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey })).body.data.balance;
    expect(entries[0]!.newBalance).toBe(balance);
  });

  it('a SANDBOX key sees no production money: its transactions are an empty ledger (the query still validated)', async () => {
    await sendP({ plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234567', amount: 1000, ref: 'secret-customer-order' });
    const r = await call(ctx, 'GET', '/v3/account/transactions', { key: ctx.merchant.sandboxKey });
    expectEnvelope(r);
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ items: [], pagination: { page: 1, pageSize: 20, totalPages: 0, totalResults: 0 } });
    expect(JSON.stringify(r.body)).not.toContain('0661234567');
    const bad = await call(ctx, 'GET', '/v3/account/transactions?pageSize=1000', { key: ctx.merchant.sandboxKey });
    expect(bad.body.error.code).toBe('ERR_VALIDATION');
    // The production key still sees both entries.
    expect((await call(ctx, 'GET', '/v3/account/transactions', { key: ctx.merchant.productionKey })).body.data.pagination.totalResults).toBe(2);
  });

  it('plans: the catalogue with the contract minimum', async () => {
    const r = await call(ctx, 'GET', '/v3/mobile/plans', { key: ctx.merchant.sandboxKey });
    expectEnvelope(r);
    const { dynamicPlans, fixedPlans } = r.body.data;
    const byCode = (code: string) => [...dynamicPlans, ...fixedPlans].find((p: { code: string }) => p.code === code);
    expect(byCode('PREPAID_DJEZZY')).toEqual({ code: 'PREPAID_DJEZZY', name: '📱 PREPAID | عادي', operator: 'Djezzy', cost: 0.9925, isEnabled: true, min_amount: 100, max_amount: 10000 });
    expect(byCode('PREPAID_MOBILIS')).toMatchObject({ operator: 'Mobilis', cost: 0.96, min_amount: 40, max_amount: 3999 });
    const gros = byCode('GROS_MOBILIS');
    expect(gros).toMatchObject({ operator: 'GMobilis', min_amount: 5000, max_amount: 300000 });
    expect('cost' in gros).toBe(false);
    for (const code of ['FACTURE_DJEZZY', 'FACTURE_MOBILIS', 'PREPAID_OOREDOO', 'FACTURE_OOREDOO']) expect(byCode(code)).toBeDefined();
    for (const code of ['GETMENU_Djezzy', 'GETMENU_Mobilis', 'GETMENU_Ooredoo']) expect(byCode(code)).toMatchObject({ min_amount: 50, max_amount: 5000 });
    expect(byCode('PIXX_500')).toMatchObject({ operator: 'Pixx', amount: 500 });
    expect(byCode('MIX500_MOBILIS')).toMatchObject({ amount: 500 });
  });

  it('unknown routes and methods: 404 NOT_FOUND in the envelope', async () => {
    for (const [method, url] of [['GET', '/v3/nope'], ['POST', '/v3/mobile/list'], ['GET', '/v3/mobile/send'], ['GET', '/']] as const) {
      const r = await call(ctx, method, url);
      expectEnvelope(r);
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('NOT_FOUND');
    }
  });

  it('500 INTERNAL_ERROR hides the internal message and stack; 503 SERVICE_UNAVAILABLE while shutting down', async () => {
    const sent = await sendP({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 });
    const original = ctx.deps.store.orders.findOrderById;
    ctx.deps.store.orders.findOrderById = async () => {
      throw new Error('SQLITE_CORRUPT: secret table orders_internal at /srv/shahn/db');
    };
    try {
      const r = await call(ctx, 'GET', `/v3/mobile/check-id/${sent.body.data.topupId}`, { key: ctx.merchant.productionKey });
      expectEnvelope(r);
      expect(r.status).toBe(500);
      expect(r.body.error).toEqual({ code: 'INTERNAL_ERROR', message: 'Internal server error' });
      expect(JSON.stringify(r.body)).not.toMatch(/SQLITE|secret|\/srv|at /);
    } finally {
      ctx.deps.store.orders.findOrderById = original;
    }
    ctx.app.beginShutdown();
    const down = await call(ctx, 'GET', '/v3/ping');
    expectEnvelope(down);
    expect(down.status).toBe(503);
    expect(down.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: { retryAfter: 5 } });
    expect(down.headers['retry-after']).toBe('5');
  });

  it('OpenAPI 3.1 at /openapi.json covering every endpoint, and a reference page at /docs', async () => {
    const r = await ctx.app.inject({ method: 'GET', url: '/openapi.json' });
    const doc = r.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/v3/')).sort()).toEqual([
      '/v3/account/balance', '/v3/account/transactions', '/v3/mobile/check-id/{id}', '/v3/mobile/check-ref/{ref}',
      '/v3/mobile/list', '/v3/mobile/plans', '/v3/mobile/send', '/v3/ping', '/v3/sandbox/clock', '/v3/sandbox/clock/advance', '/v3/sandbox/clock/reset', '/v3/validate',
      '/v3/webhooks', '/v3/webhooks/{id}', '/v3/webhooks/{id}/deliveries', '/v3/webhooks/{id}/deliveries/{deliveryId}', '/v3/webhooks/{id}/enable', '/v3/webhooks/{id}/replay', '/v3/webhooks/{id}/rotate-secret', '/v3/webhooks/{id}/test',
    ]);
    expect(Object.keys(doc.paths)).toContain('/admin/orders/{id}/resolve');
    const send = doc.paths['/v3/mobile/send'].post;
    expect(send.requestBody.content['application/json'].schema.properties.MSSIDN.pattern).toBe('^0[567][0-9]{8}$');
    expect(doc.components.securitySchemes.accessToken).toEqual({ type: 'apiKey', in: 'header', name: 'X-Access-Token' });
    const docs = await ctx.app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toContain('text/html');
  });
});
