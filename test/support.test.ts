import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MESSAGES } from '@shahn/contract';
import { AlertDispatcher } from '../src/processor/alert-dispatcher.js';
import { createAdmin } from '../src/support/admins.js';
import { call, expectEnvelope, makeContext, type TestContext } from './helpers.js';
import { ManualGateway, makeProcessor, sendUncertainOrder, settle, silentLog } from './processor-helpers.js';

describe('support review and the admin API', () => {
  let ctx: TestContext;
  let gw: ManualGateway;
  let admin: string;
  let admin2: string;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000 });
    gw = new ManualGateway();
    admin = (await createAdmin(ctx.deps, { name: 'amina' })).token;
    admin2 = (await createAdmin(ctx.deps, { name: 'karim' })).token;
  });
  afterEach(async () => {
    await ctx.close();
  });

  const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
  const adminCall = (method: 'GET' | 'POST', url: string, token = admin, body?: unknown) =>
    call(ctx, method, url, { ...as(token), ...(body !== undefined ? { body } : {}) });
  const patch = async (url: string, body: unknown, token = admin) => {
    const res = await ctx.app.inject({ method: 'PATCH', url, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    return { status: res.statusCode, body: res.json() };
  };
  const balance = async () => (await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey })).body.data.balance;

  /** A production order that ended UNKNOWN_ERROR through the processor. */
  const uncertainOrder = (amount = 500) => sendUncertainOrder(ctx, gw, { amount });

  it('two creates of one username or one admin name at once: one wins, the other gets a clear ERR_VALIDATION', async () => {
    const { createMerchant } = await import('../src/domain/create-merchant.js');
    for (const make of [() => createMerchant(ctx.deps, { username: '+213661777777' }), () => createAdmin(ctx.deps, { name: 'twin' })]) {
      const [a, b] = await Promise.allSettled([make(), make()]);
      const rejected = [a, b].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected).toHaveLength(1);
      expect(rejected[0]!.reason).toMatchObject({ code: 'ERR_VALIDATION', details: { reason: 'unique' } });
    }
  });

  it('needs an admin token: none, a bad one, or a merchant key are refused', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Bearer ${ctx.merchant.productionKey}` }, { 'x-access-token': ctx.merchant.productionKey }]) {
      const r = await call(ctx, 'GET', '/admin/orders/uncertain', { headers: headers as Record<string, string> });
      expectEnvelope(r);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('ADMIN_UNAUTHORIZED');
    }
  });

  it('lists UNKNOWN_ERROR orders oldest first with merchant, age and the Arabic notice', async () => {
    const first = await uncertainOrder();
    ctx.clock.advance(60_000);
    const second = await uncertainOrder();
    ctx.clock.advance(60_000);
    const r = await adminCall('GET', '/admin/orders/uncertain');
    expectEnvelope(r);
    expect(r.body.data.items.map((o: { _id: string }) => o._id)).toEqual([first, second]);
    expect(r.body.data.items[0]).toMatchObject({ status: 'UNKNOWN_ERROR', env: 'PRODUCTION', merchant: { username: '+213665983439' }, ageSeconds: 120, refund_message: MESSAGES.UNKNOWN_NOTICE });
  });

  it('resolve: exactly once (two agents at once: one wins, the other CONFLICT), with its ledger effect and audit', async () => {
    const id = await uncertainOrder();
    expect(await balance()).toBe(9503.75);
    const [a, b] = await Promise.all([
      adminCall('POST', `/admin/orders/${id}/resolve`, admin, { status: 'REFUNDED', reason: 'operator confirmed failure' }),
      adminCall('POST', `/admin/orders/${id}/resolve`, admin2, { status: 'FULFILLED', reason: 'customer says received' }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const refundWon = a.status === 200;
    const loser = refundWon ? b : a;
    expectEnvelope(loser);
    expect(loser.body.error.code).toBe('CONFLICT');
    expect(loser.body.error.details.status).toBe(refundWon ? 'REFUNDED' : 'FULFILLED');
    expect(await balance()).toBe(refundWon ? 10000 : 9503.75);
    const merchantView = (await call(ctx, 'GET', `/v3/mobile/check-id/${id}`, { key: ctx.merchant.productionKey })).body.data;
    expect(merchantView).toMatchObject(refundWon ? { status: 'REFUNDED', balance_amount: 0 } : { status: 'FULFILLED', balance_amount: 496.25 });
    const tx = (await call(ctx, 'GET', '/v3/account/transactions', { key: ctx.merchant.productionKey })).body.data.items;
    expect(tx.filter((t: { type: string }) => t.type === 'REFUND-FLEXY')).toHaveLength(refundWon ? 1 : 0);
    const detail = await adminCall('GET', `/admin/orders/${id}`);
    expect(detail.body.data.audit).toHaveLength(1);
    expect(detail.body.data.audit[0]).toMatchObject(
      refundWon
        ? { actor: 'admin:amina', action: 'order.resolve.refunded', reason: 'operator confirmed failure' }
        : { actor: 'admin:karim', action: 'order.resolve.fulfilled', reason: 'customer says received' },
    );
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it('resolve to REFUNDED returns the charge as one REFUND-FLEXY entry', async () => {
    const id = await uncertainOrder();
    const r = await adminCall('POST', `/admin/orders/${id}/resolve`, admin, { status: 'REFUNDED', reason: 'operator confirmed failure' });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ status: 'REFUNDED', balance_amount: 0 });
    expect(await balance()).toBe(10000);
    const tx = (await call(ctx, 'GET', '/v3/account/transactions', { key: ctx.merchant.productionKey })).body.data.items;
    expect(tx[0]).toMatchObject({ type: 'REFUND-FLEXY', amount: 496.25, objid: id, oldBalance: 9503.75, newBalance: 10000 });
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it('resolve to REFUNDED replaces the uncertainty notice: the standard refunded message, or the one support writes', async () => {
    const standard = await uncertainOrder();
    const r = await adminCall('POST', `/admin/orders/${standard}/resolve`, admin, { status: 'REFUNDED', reason: 'operator confirmed failure' });
    expect(r.body.data.refund_message).toBe(MESSAGES.REFUNDED_AFTER_REVIEW);
    expect((await call(ctx, 'GET', `/v3/mobile/check-id/${standard}`, { key: ctx.merchant.productionKey })).body.data.refund_message).toBe(MESSAGES.REFUNDED_AFTER_REVIEW);

    const chosen = await uncertainOrder();
    const c = await adminCall('POST', `/admin/orders/${chosen}/resolve`, admin, { status: 'REFUNDED', reason: 'wrong number', refundMessage: MESSAGES.WRONG_NUMBER });
    expect(c.status).toBe(200);
    expect((await call(ctx, 'GET', `/v3/mobile/check-id/${chosen}`, { key: ctx.merchant.productionKey })).body.data.refund_message).toBe(MESSAGES.WRONG_NUMBER);
    const audit = (await adminCall('GET', `/admin/orders/${chosen}`)).body.data.audit;
    expect(audit[0].details.refundMessage).toBe(MESSAGES.WRONG_NUMBER);

    // A message makes no sense with FULFILLED; a blank one is the standard one.
    const third = await uncertainOrder();
    const refused = await adminCall('POST', `/admin/orders/${third}/resolve`, admin, { status: 'FULFILLED', reason: 'ok', refundMessage: 'x' });
    expect(refused.status).toBe(400);
    expect(refused.body.error.details.field).toBe('refundMessage');
    const blank = await adminCall('POST', `/admin/orders/${third}/resolve`, admin, { status: 'REFUNDED', reason: 'failed', refundMessage: '   ' });
    expect(blank.body.data.refund_message).toBe(MESSAGES.REFUNDED_AFTER_REVIEW);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it('resolve to FULFILLED keeps the charge; a reason is required; only UNKNOWN_ERROR orders', async () => {
    const id = await uncertainOrder();
    const noReason = await adminCall('POST', `/admin/orders/${id}/resolve`, admin, { status: 'FULFILLED', reason: '' });
    expect(noReason.status).toBe(400);
    const ok = await adminCall('POST', `/admin/orders/${id}/resolve`, admin, { status: 'FULFILLED', reason: 'operator log shows success' });
    expect(ok.status).toBe(200);
    expect(ok.body.data.status).toBe('FULFILLED');
    expect(ok.body.data.refund_message).toBeUndefined();
    expect(await balance()).toBe(9503.75);
    const again = await adminCall('POST', `/admin/orders/${id}/resolve`, admin, { status: 'REFUNDED', reason: 'x' });
    expect(again.status).toBe(409);
    const missing = await adminCall('POST', '/admin/orders/6901616fe9e88196b4eb64b0/resolve', admin, { status: 'REFUNDED', reason: 'x' });
    expect(missing.status).toBe(404);
  });

  it('re-sends a REFUNDED order as a new one linked both ways, charged again, once', async () => {
    const id = await uncertainOrder();
    await adminCall('POST', `/admin/orders/${id}/resolve`, admin, { status: 'REFUNDED', reason: 'failed' });
    const r = await adminCall('POST', `/admin/orders/${id}/resend`, admin, { reason: 'customer asked again' });
    expect(r.status).toBe(200);
    const newId = r.body.data.topupId;
    const orig = (await call(ctx, 'GET', `/v3/mobile/check-id/${id}`, { key: ctx.merchant.productionKey })).body.data;
    const next = (await call(ctx, 'GET', `/v3/mobile/check-id/${newId}`, { key: ctx.merchant.productionKey })).body.data;
    expect(orig.retry_orderid).toBe(newId);
    expect(next).toMatchObject({ status: 'PENDING', follow_orderid: id, plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', topup_amount: 500 });
    expect(await balance()).toBe(9503.75);
    expect((await adminCall('POST', `/admin/orders/${id}/resend`, admin, { reason: 'again' })).status).toBe(409);
    expect((await adminCall('POST', `/admin/orders/${newId}/resend`, admin, { reason: 'not refunded' })).status).toBe(409);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it('support resolves a sandbox UNKNOWN_ERROR before it resolves on its own', async () => {
    const r = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.sandboxKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000003', amount: 500 } });
    const id = r.body.data.topupId;
    expect((await adminCall('POST', `/admin/orders/${id}/resolve`, admin, { status: 'FULFILLED', reason: 'too early' })).status).toBe(409);
    ctx.clock.advance(15_000);
    const ok = await adminCall('POST', `/admin/orders/${id}/resolve`, admin, { status: 'FULFILLED', reason: 'sandbox drill' });
    expect(ok.status).toBe(200);
    ctx.clock.advance(13 * 3600 * 1000);
    const d = (await call(ctx, 'GET', `/v3/mobile/check-id/${id}`, { key: ctx.merchant.sandboxKey })).body.data;
    expect(d.status).toBe('FULFILLED');
    expect(await balance()).toBe(10000);
  });

  it('credits a merchant (DEPOSIT, audited)', async () => {
    const r = await adminCall('POST', '/admin/merchants/+213665983439/credit', admin, { amount: 250.5, note: 'bank transfer 8812', reason: 'deposit slip checked' });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ type: 'DEPOSIT', amount: 250.5, oldBalance: 10000, newBalance: 10250.5 });
    expect(await balance()).toBe(10250.5);
    const audit = await adminCall('GET', '/admin/audit');
    expect(audit.body.data.items[0]).toMatchObject({ actor: 'admin:amina', action: 'merchant.credit', reason: 'deposit slip checked' });
    expect((await adminCall('POST', '/admin/merchants/+213665983439/credit', admin, { amount: -5 })).status).toBe(400);
    expect((await adminCall('POST', '/admin/merchants/+213000000000/credit', admin, { amount: 5 })).status).toBe(400);
  });

  it('credits are bounded: at most 100,000,000 DZD each, never a balance past 1,000,000,000 DZD; refused credits change nothing', async () => {
    const credit = (amount: number | string) => adminCall('POST', '/admin/merchants/+213665983439/credit', admin, { amount, reason: 'test' });
    const huge = await credit(9_999_999_999.99);
    expectEnvelope(huge);
    expect(huge.status).toBe(400);
    expect(huge.body.error).toMatchObject({ code: 'ERR_VALIDATION', details: { field: 'amount', reason: 'maximum' } });
    for (let i = 0; i < 9; i++) expect((await credit(100_000_000)).status).toBe(200);
    expect(await balance()).toBe(900_010_000);
    const past = await credit(100_000_000);
    expect(past.status).toBe(400);
    expect(past.body.error).toMatchObject({ code: 'ERR_VALIDATION', details: { field: 'amount', reason: 'balance_maximum' } });
    expect((await credit(99_990_000)).status).toBe(200);
    expect(await balance()).toBe(1_000_000_000);
    expect((await credit(0.01)).status).toBe(400);
    // Sends and refunds still work at the top.
    const s = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 } });
    expect(s.status).toBe(200);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
    // A merchant's opening balance has the same bound.
    const m = await adminCall('POST', '/admin/merchants', admin, { username: '+213661000099', balance: 200_000_000 });
    expect(m.status).toBe(400);
    expect(m.body.error.details).toMatchObject({ field: 'balance', reason: 'maximum' });
  });

  it('creates, disables and rotates keys; a disabled or rotated key stops working at once', async () => {
    const created = await adminCall('POST', '/admin/merchants/+213665983439/keys', admin, { type: 'PRODUCTION', scope: 'READ-ONLY', allowedips: ['127.0.0.1'] });
    expect(created.status).toBe(200);
    const key = created.body.data.key;
    expect((await call(ctx, 'GET', '/v3/validate', { key })).body.data.apiKey).toMatchObject({ type: 'PRODUCTION', scope: 'READ-ONLY', allowedips: ['127.0.0.1'] });

    const rotated = await adminCall('POST', `/admin/keys/${created.body.data.id}/rotate`, admin, { reason: 'leaked' });
    expect(rotated.status).toBe(200);
    expect((await call(ctx, 'GET', '/v3/validate', { key })).body.error.code).toBe('ACCESS_TOKEN_DISABLED');
    const newKey = rotated.body.data.key;
    expect((await call(ctx, 'GET', '/v3/validate', { key: newKey })).body.data.apiKey).toMatchObject({ scope: 'READ-ONLY', allowedips: ['127.0.0.1'] });

    const disabled = await patch(`/admin/keys/${rotated.body.data.id}`, { isEnabled: false, reason: 'merchant request' });
    expect(disabled.status).toBe(200);
    expect((await call(ctx, 'GET', '/v3/validate', { key: newKey })).body.error.code).toBe('ACCESS_TOKEN_DISABLED');
    const list = await adminCall('GET', '/admin/merchants/+213665983439/keys');
    expect(list.body.data.items).toHaveLength(4);
    expect(JSON.stringify(list.body.data)).not.toContain(newKey);
    const actions = (await adminCall('GET', '/admin/audit')).body.data.items.map((a: { action: string }) => a.action);
    expect(actions.slice(0, 3)).toEqual(['key.disable', 'key.rotate', 'key.create']);
    expect((await adminCall('POST', '/admin/merchants/+213665983439/keys', admin, { type: 'STAGING' })).status).toBe(400);
  });

  it('edits plans: disable, range; the API sees it at once', async () => {
    const r = await patch('/admin/plans/PREPAID_OOREDOO', { isEnabled: false, reason: 'operator maintenance' });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ code: 'PREPAID_OOREDOO', isEnabled: false });
    const send = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_OOREDOO', MSSIDN: '0556121212', amount: 500 } });
    expect(send.body.error.code).toBe('PLAN_DISABLED');
    await patch('/admin/plans/PREPAID_OOREDOO', { isEnabled: true, max_amount: 400 });
    const tooMuch = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_OOREDOO', MSSIDN: '0556121212', amount: 500 } });
    expect(tooMuch.body.error.message).toBe('body/amount must be <= 400');
    expect((await patch('/admin/plans/PREPAID_OOREDOO', { min_amount: 1000 })).status).toBe(400);
    expect((await patch('/admin/plans/PIXX_500', { min_amount: 10 })).status).toBe(400);
    expect((await patch('/admin/plans/NOPE', { isEnabled: false })).status).toBe(404);
  });

  it('the simulator is configurable at runtime through the admin API, which exists only with a simulator gateway', async () => {
    // Without a simulator gateway (the context's static health), the controls do not exist.
    expect((await call(ctx, 'GET', '/admin/simulator', as(admin))).status).toBe(404);
    const { buildApp } = await import('../src/server/build-app.js');
    const { buildDeps } = await import('../src/runtime/build-deps.js');
    const { makeGateways } = await import('../src/gateways/make-gateways.js');
    const { defaultGatewaysConfig } = await import('../src/gateways/gateways-config.js');
    const cat = await ctx.deps.catalogue.get();
    const gateways = makeGateways(defaultGatewaysConfig(undefined), { operators: [...cat.operators.values()], plans: [...cat.plans.values()] }, { catalogue: () => ctx.deps.catalogue.get() });
    const app = await buildApp(buildDeps(ctx.config, ctx.deps.store, { clock: ctx.clock, gateways }), { logger: silentLog });
    const res = await app.inject({ method: 'PATCH', url: '/admin/simulator', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, payload: JSON.stringify({ operators: { djezzy: { down: true } } }) });
    expect(res.statusCode).toBe(200);
    expect(gateways.simulator()?.isUp('djezzy')).toBe(false);
    // /v3/ping reports it through the router.
    expect((await app.inject({ method: 'GET', url: '/v3/ping' })).json().data.operators).toMatchObject({ djezzy: 'down', mobilis: 'up' });
    const bad = await app.inject({ method: 'PATCH', url: '/admin/simulator', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, payload: JSON.stringify({ seed: -1 }) });
    expect(bad.statusCode).toBe(400);
    const unknown = await app.inject({ method: 'GET', url: '/admin/simulator?gateway=nope', headers: { authorization: `Bearer ${admin}` } });
    expect(unknown.statusCode).toBe(404);
    await app.close();
  });
});

describe('alerts', () => {
  let ctx: TestContext;
  let server: Server;
  let received: unknown[];
  let failFirst: number;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000 });
    received = [];
    failFirst = 2;
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (failFirst-- > 0) {
          res.writeHead(503).end();
          return;
        }
        received.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
    await ctx.close();
  });

  it('an UNKNOWN_ERROR is POSTed to the alert URL, retried with backoff until it is taken', async () => {
    const gw = new ManualGateway();
    const r = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500, ref: 'alert-me' } });
    const p = makeProcessor(ctx, gw);
    await p.tick();
    await settle();
    await gw.answer(r.body.data.topupId, new Error('modem timeout'));
    await p.drain();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const d = new AlertDispatcher({ store: ctx.deps.store, clock: ctx.clock, logger: silentLog }, { url, retryBaseMs: 1000, maxBackoffMs: 60_000, pollMs: 1000, requestTimeoutMs: 2000 });
    expect(await d.deliverDue()).toBe(0); // 503
    expect(await d.deliverDue()).toBe(0); // not due yet
    ctx.clock.advance(1000);
    expect(await d.deliverDue()).toBe(0); // 503 again, next in 2 s
    ctx.clock.advance(1999);
    expect(await d.deliverDue()).toBe(0);
    ctx.clock.advance(1);
    expect(await d.deliverDue()).toBe(1);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ kind: 'UNKNOWN_ERROR', orderId: r.body.data.topupId, ref: 'alert-me', MSSIDN: '0778037340', reason: 'gateway error: modem timeout' });
    ctx.clock.advance(3_600_000);
    expect(await d.deliverDue()).toBe(0); // delivered once
  });

  it('dispatchers of several processes POST each alert once: an alert is claimed before its POST', async () => {
    failFirst = 0;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await sendUncertainOrder(ctx, new ManualGateway(), { amount: 100, ref: `multi-${i}` }));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const options = { url, retryBaseMs: 1000, maxBackoffMs: 60_000, pollMs: 1000, requestTimeoutMs: 2000 };
    const dispatchers = [0, 1, 2].map(() => new AlertDispatcher({ store: ctx.deps.store, clock: ctx.clock, logger: silentLog }, options));
    const delivered = await Promise.all(dispatchers.map((d) => d.deliverDue()));
    expect(delivered.reduce((a, b) => a + b, 0)).toBe(5);
    expect((received as { orderId: string }[]).map((a) => a.orderId).sort()).toEqual([...ids].sort());
    ctx.clock.advance(3_600_000);
    expect(await Promise.all(dispatchers.map((d) => d.deliverDue()))).toEqual([0, 0, 0]);
  });
});
