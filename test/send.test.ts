import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MESSAGES } from '@shahn/contract';
import { call, expectEnvelope, makeContext, type TestContext } from './helpers.js';
import { newObjectId } from '../src/lib/ids.js';

describe('POST /v3/mobile/send', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000 });
  });
  afterEach(async () => {
    await ctx.close();
  });

  const send = (key: string, body: unknown) => call(ctx, 'POST', '/v3/mobile/send', { key, body });

  it('production: charges round(amount × cost) in the same transaction, and the order waits PENDING', async () => {
    const r = await send(ctx.merchant.productionKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500, ref: 'order-12345' });
    expectEnvelope(r);
    expect(r.status).toBe(200);
    expect(r.body.data.topupRef).toBe('order-12345');
    expect(r.body.data.topupId).toMatch(/^[0-9a-f]{24}$/);

    const bal = await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey });
    // 500 × 0.9925 = 496.25
    expect(bal.body.data).toEqual({ balance: 9503.75, currency: 'DZD' });

    const c = await call(ctx, 'GET', `/v3/mobile/check-id/${r.body.data.topupId}`, { key: ctx.merchant.productionKey });
    expect(c.body.data).toEqual({
      _id: r.body.data.topupId,
      ref: 'order-12345',
      status: 'PENDING',
      plan_code: 'PREPAID_DJEZZY',
      MSSIDN: '0778037340',
      topup_amount: 500,
      balance_amount: 496.25,
      created_at: new Date(ctx.clock.now()).toISOString(),
    });

    const tx = await call(ctx, 'GET', '/v3/account/transactions', { key: ctx.merchant.productionKey });
    expect(tx.body.data.items[0]).toMatchObject({
      type: 'FLEXY',
      operation: 'DECREMENT',
      amount: 496.25,
      oldBalance: 10000,
      newBalance: 9503.75,
      objid: r.body.data.topupId,
    });
  });

  it('answers newBalance: the balance after the charge in production, the unchanged balance in the sandbox', async () => {
    const p = await send(ctx.merchant.productionKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    expect(p.body.data.newBalance).toBe(9503.75);
    const p2 = await send(ctx.merchant.productionKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 });
    expect(p2.body.data.newBalance).toBe(9404.5);
    const s = await send(ctx.merchant.sandboxKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    expect(s.body.data.newBalance).toBe(9404.5);
    expect(Object.keys(s.body.data).sort()).toEqual(['newBalance', 'topupId', 'topupRef']);
  });

  it('rounds the charge half-up to the centime', async () => {
    // PREPAID_MOBILIS cost 0.96: 41 × 0.96 = 39.36; PREPAID_DJEZZY 0.9925: 101 × 0.9925 = 100.2425 → 100.24; 103 → 102.2275 → 102.23
    const a = await send(ctx.merchant.productionKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 101 });
    const b = await send(ctx.merchant.productionKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 103 });
    const ca = await call(ctx, 'GET', `/v3/mobile/check-id/${a.body.data.topupId}`, { key: ctx.merchant.productionKey });
    const cb = await call(ctx, 'GET', `/v3/mobile/check-id/${b.body.data.topupId}`, { key: ctx.merchant.productionKey });
    expect(ca.body.data.balance_amount).toBe(100.24);
    expect(cb.body.data.balance_amount).toBe(102.23);
  });

  it('a plan without cost charges the face value (GROS_MOBILIS)', async () => {
    const r = await send(ctx.merchant.productionKey, { plan_code: 'GROS_MOBILIS', MSSIDN: '0661234567', amount: 5000 });
    const c = await call(ctx, 'GET', `/v3/mobile/check-id/${r.body.data.topupId}`, { key: ctx.merchant.productionKey });
    expect(c.body.data.balance_amount).toBe(5000);
  });

  it('fixed plans use their own amount and ignore the one sent', async () => {
    const r = await send(ctx.merchant.productionKey, { plan_code: 'PIXX_500', MSSIDN: '0661234567', amount: 9999 });
    expect(r.status).toBe(200);
    const c = await call(ctx, 'GET', `/v3/mobile/check-id/${r.body.data.topupId}`, { key: ctx.merchant.productionKey });
    expect(c.body.data.topup_amount).toBe(500);
    expect(c.body.data.balance_amount).toBe(485);
  });

  it('INSUFFICIENT_BALANCE with required and available; nothing recorded', async () => {
    const r = await send(ctx.merchant.productionKey, { plan_code: 'GROS_MOBILIS', MSSIDN: '0661234567', amount: 20000 });
    expectEnvelope(r);
    expect(r.status).toBe(403);
    expect(r.body.error).toEqual({
      code: 'INSUFFICIENT_BALANCE',
      message: 'Your balance is insufficient for this operation',
      details: { required: 20000, available: 10000 },
    });
    const list = await call(ctx, 'GET', '/v3/mobile/list', { key: ctx.merchant.productionKey });
    expect(list.body.data.pagination.totalResults).toBe(0);
  });

  it('DUPLICATED_REF names the existing order; per environment', async () => {
    const first = await send(ctx.merchant.productionKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500, ref: 'dup-1' });
    const again = await send(ctx.merchant.productionKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500, ref: 'dup-1' });
    expectEnvelope(again);
    expect(again.status).toBe(403);
    expect(again.body.error).toEqual({
      code: 'DUPLICATED_REF',
      message: 'This reference ID is already in use',
      details: { ref: 'dup-1', topupId: first.body.data.topupId },
    });
    // Only one charge.
    const bal = await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey });
    expect(bal.body.data.balance).toBe(9503.75);
    // The same ref is free in the sandbox.
    expect((await send(ctx.merchant.sandboxKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500, ref: 'dup-1' })).status).toBe(200);
  });

  it('concurrent sends with the same ref create exactly one order and one charge', async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => send(ctx.merchant.productionKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref: 'race-1' })),
    );
    expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
    expect(replies.filter((r) => r.body.error?.code === 'DUPLICATED_REF')).toHaveLength(19);
    const tx = await call(ctx, 'GET', '/v3/account/transactions', { key: ctx.merchant.productionKey });
    expect(tx.body.data.items.filter((t: { type: string }) => t.type === 'FLEXY')).toHaveLength(1);
  });

  it('concurrent sandbox sends with the same ref create exactly one order; the others get DUPLICATED_REF with its id', async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => send(ctx.merchant.sandboxKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref: 'sandbox-race' })),
    );
    const ok = replies.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    const dups = replies.filter((r) => r.body.error?.code === 'DUPLICATED_REF');
    expect(dups).toHaveLength(19);
    for (const d of dups) expect(d.body.error.details).toEqual({ ref: 'sandbox-race', topupId: ok[0]!.body.data.topupId });
    const list = await call(ctx, 'GET', '/v3/mobile/list', { key: ctx.merchant.sandboxKey });
    expect(list.body.data.pagination.totalResults).toBe(1);
  });

  it('concurrent sends never overdraw: a balance for exactly N charges accepts exactly N', async () => {
    // 10000 DZD covers exactly 10 GROS_MOBILIS orders of 1000 DZD? GROS min is 5000: use 2 of 5000.
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) => send(ctx.merchant.productionKey, { plan_code: 'GROS_MOBILIS', MSSIDN: '0661234567', amount: 5000, ref: `o-${i}` })),
    );
    expect(replies.filter((r) => r.status === 200)).toHaveLength(2);
    expect(replies.filter((r) => r.body.error?.code === 'INSUFFICIENT_BALANCE')).toHaveLength(8);
    const bal = await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey });
    expect(bal.body.data.balance).toBe(0);
  });

  it('generates a ref when none is given (production and sandbox forms)', async () => {
    const p = await send(ctx.merchant.productionKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 });
    expect(p.body.data.topupRef).toMatch(/^API-\+213665983439-\d{13}-[0-9a-f]+$/);
    const s = await send(ctx.merchant.sandboxKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 });
    expect(s.body.data.topupRef).toMatch(/^API-\+213665983439-test-\d{13}-[0-9a-f]+$/);
    const byRef = await call(ctx, 'GET', `/v3/mobile/check-ref/${encodeURIComponent(s.body.data.topupRef)}`, { key: ctx.merchant.sandboxKey });
    expect(byRef.body.data._id).toBe(s.body.data.topupId);
  });

  it('generated refs of one millisecond never collide: each ends with its order id\'s counter', async () => {
    // The test clock stands still: every send below is in the same millisecond.
    const replies = await Promise.all(Array.from({ length: 300 }, () => send(ctx.merchant.sandboxKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 })));
    for (const r of replies) {
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.data.topupRef.slice(-6)).toBe(r.body.data.topupId.slice(-6));
    }
    expect(new Set(replies.map((r) => r.body.data.topupRef)).size).toBe(300);
  });

  describe('validation (ERR_VALIDATION, Ajv-style messages)', () => {
    const cases: [string, unknown, string, string][] = [
      ['bad MSSIDN pattern', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '778037340', amount: 500 }, 'body/MSSIDN must match pattern "^0[567][0-9]{8}$"', 'MSSIDN'],
      ['international MSSIDN', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '+213778037340', amount: 500 }, 'body/MSSIDN must match pattern "^0[567][0-9]{8}$"', 'MSSIDN'],
      ['MSSIDN with spaces', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778 037 340', amount: 500 }, 'body/MSSIDN must match pattern "^0[567][0-9]{8}$"', 'MSSIDN'],
      ['MSSIDN as a number', { plan_code: 'PREPAID_DJEZZY', MSSIDN: 778037340, amount: 500 }, 'body/MSSIDN must be string', 'MSSIDN'],
      ['missing plan_code', { MSSIDN: '0778037340', amount: 500 }, "body must have required property 'plan_code'", 'plan_code'],
      ['missing MSSIDN', { plan_code: 'PREPAID_DJEZZY', amount: 500 }, "body must have required property 'MSSIDN'", 'MSSIDN'],
      ['amount as a string', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: '500' }, 'body/amount must be integer', 'amount'],
      ['fractional amount', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500.5 }, 'body/amount must be integer', 'amount'],
      ['unknown plan', { plan_code: 'NOPE', MSSIDN: '0778037340', amount: 500 }, 'body/plan_code must be one of the plans of /v3/mobile/plans', 'plan_code'],
      ['amount missing for a dynamic plan', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340' }, 'body/amount is required for the dynamic plan PREPAID_DJEZZY', 'amount'],
      ['amount below min', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 99 }, 'body/amount must be >= 100', 'amount'],
      ['amount above max', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 10001 }, 'body/amount must be <= 10000', 'amount'],
      ['operator mismatch', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0661234567', amount: 500 }, 'body/MSSIDN must be a Djezzy number (starting with 07) for plan PREPAID_DJEZZY', 'MSSIDN'],
      ['bad ref', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500, ref: 'has space' }, 'body/ref must match pattern "^(?!\\.{1,2}$)[A-Za-z0-9._:@+-]{1,128}$"', 'ref'],
      ['ref too long', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500, ref: 'x'.repeat(129) }, 'body/ref must match pattern "^(?!\\.{1,2}$)[A-Za-z0-9._:@+-]{1,128}$"', 'ref'],
      ['ref "."', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500, ref: '..' }, 'body/ref must match pattern "^(?!\\.{1,2}$)[A-Za-z0-9._:@+-]{1,128}$"', 'ref'],
      ['body not an object', [1, 2], 'body must be object', ''],
    ];
    for (const [name, body, message, field] of cases) {
      it(name, async () => {
        const r = await send(ctx.merchant.productionKey, body);
        expectEnvelope(r);
        expect(r.status).toBe(400);
        expect(r.body.error.code).toBe('ERR_VALIDATION');
        expect(r.body.error.message).toBe(message);
        expect(r.body.error.details.field).toBe(field);
      });
    }

    it('echoes the offending value, as the public API does', async () => {
      const r = await send(ctx.merchant.productionKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '778037340', amount: 500 });
      expect(r.body.error.details).toEqual({ field: 'MSSIDN', value: '778037340', reason: 'pattern' });
    });

    it('malformed JSON, wrong content type and empty body are ERR_VALIDATION', async () => {
      const bad = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: '{"plan_code":' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('ERR_VALIDATION');
      const text = await call(ctx, 'POST', '/v3/mobile/send', {
        key: ctx.merchant.productionKey,
        headers: { 'content-type': 'text/plain' },
        body: 'hello',
      });
      expect(text.status).toBe(400);
      expect(text.body.error.code).toBe('ERR_VALIDATION');
      const empty = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, headers: { 'content-type': 'application/json' } });
      expect(empty.status).toBe(400);
      expect(empty.body.error.code).toBe('ERR_VALIDATION');
    });

    it('413 PAYLOAD_TOO_LARGE over 16 KiB', async () => {
      const r = await send(ctx.merchant.productionKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500, pad: 'x'.repeat(17 * 1024) });
      expectEnvelope(r);
      expect(r.status).toBe(413);
      expect(r.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('nothing is charged or recorded by a rejected send', async () => {
      for (const [, body] of cases) await send(ctx.merchant.productionKey, body);
      const bal = await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey });
      expect(bal.body.data.balance).toBe(10000);
      const list = await call(ctx, 'GET', '/v3/mobile/list', { key: ctx.merchant.productionKey });
      expect(list.body.data.pagination.totalResults).toBe(0);
    });
  });

  it('PLAN_DISABLED for a disabled plan', async () => {
    const plans = await ctx.deps.store.catalogue.listPlans();
    const ops = await ctx.deps.store.catalogue.listOperators();
    await ctx.deps.store.catalogue.upsertCatalogue(ops, plans.map((p) => (p.code === 'PREPAID_OOREDOO' ? { ...p, isEnabled: false } : p)));
    ctx.deps.catalogue.invalidate();
    const r = await send(ctx.merchant.productionKey, { plan_code: 'PREPAID_OOREDOO', MSSIDN: '0556121212', amount: 500 });
    expectEnvelope(r);
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({ code: 'PLAN_DISABLED', details: { plan_code: 'PREPAID_OOREDOO' } });
    const plansReply = await call(ctx, 'GET', '/v3/mobile/plans', { key: ctx.merchant.sandboxKey });
    expect(plansReply.body.data.dynamicPlans.find((p: { code: string }) => p.code === 'PREPAID_OOREDOO').isEnabled).toBe(false);
  });

  it('the test numbers break the prefix rule only in the sandbox', async () => {
    const s = await send(ctx.merchant.sandboxKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000001', amount: 500 });
    expect(s.status).toBe(200);
    const p = await send(ctx.merchant.productionKey, { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000001', amount: 500 });
    expect(p.status).toBe(400);
    expect(p.body.error.details.reason).toBe('operator_mismatch');
  });

  it('keeps the Arabic messages of the contract byte for byte', () => {
    expect(MESSAGES.UNKNOWN_NOTICE).toBe(
      'هذه العملية حالتها غير معروفة، يرجى التأكد مع عميلك، ولن نتحمل أي مسؤولية عن أي خسائر. إذا فشلت العملية بالفعل، فلا تقلق، سيتم استرداد أموالك خلال 24 ساعة',
    );
  });
});

/** A PENDING production order record of the context's merchant, charged its amount (store-level tests). */
function productionOrder(ctx: TestContext, now: number, ref: string, topupAmount: number) {
  return {
    id: newObjectId(now), merchantId: ctx.merchant.id, env: 'PRODUCTION' as const, ref, status: 'PENDING' as const, planCode: 'PREPAID_DJEZZY',
    mssidn: '0778037340', topupAmount, charge: topupAmount, createdAt: now, updatedAt: now, refundMessage: null, suggestedOffers: null,
    followOrderId: null, retryOrderId: null, sandboxScenario: null,
  };
}

describe('sends recorded together', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000 });
  });
  afterEach(async () => {
    await ctx.close();
  });

  it('an order the store refuses fails alone; the others in the same moment are recorded and charged', async () => {
    const now = ctx.clock.now();
    const order = (ref: string, topupAmount: number) => productionOrder(ctx, now, ref, topupAmount);
    const results = await Promise.allSettled([
      ctx.deps.store.orders.insertOrder(order('g-1', 10_000), { entryId: newObjectId(now), note: 'a' }),
      ctx.deps.store.orders.insertOrder(order('g-2', 0), { entryId: newObjectId(now), note: 'violates CHECK (topup_amount > 0)' }),
      ctx.deps.store.orders.insertOrder(order('g-3', 20_000), { entryId: newObjectId(now), note: 'c' }),
      ctx.deps.store.orders.insertOrder(order('g-1', 10_000), { entryId: newObjectId(now), note: 'same ref' }),
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? (r.value.ok ? 'ok' : r.value.reason) : 'error'))).toEqual(['ok', 'error', 'ok', 'DUPLICATED_REF']);
    const balance = (await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey })).body.data.balance;
    expect(balance).toBe(10_000 - 100 - 200);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it('an order that fails after its row is written leaves nothing behind; the others in the same moment are recorded and charged', async () => {
    const now = ctx.clock.now();
    const order = (ref: string, topupAmount: number) => productionOrder(ctx, now, ref, topupAmount);
    const taken = newObjectId(now);
    expect((await ctx.deps.store.orders.insertOrder(order('f-0', 5_000), { entryId: taken, note: 'first' })).ok).toBe(true);
    // f-2's order row goes in, then its charge collides with an existing ledger entry id.
    const results = await Promise.allSettled([
      ctx.deps.store.orders.insertOrder(order('f-1', 10_000), { entryId: newObjectId(now), note: 'a' }),
      ctx.deps.store.orders.insertOrder(order('f-2', 20_000), { entryId: taken, note: 'duplicate ledger entry id' }),
      ctx.deps.store.orders.insertOrder(order('f-3', 30_000), { entryId: newObjectId(now), note: 'c' }),
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? (r.value.ok ? 'ok' : r.value.reason) : 'error'))).toEqual(['ok', 'error', 'ok']);
    expect(await ctx.deps.store.orders.findOrderByRef(ctx.merchant.id, 'PRODUCTION', 'f-2')).toBeUndefined();
    expect(await ctx.deps.store.orders.findOrderByRef(ctx.merchant.id, 'PRODUCTION', 'f-3')).toBeDefined();
    const balance = (await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey })).body.data.balance;
    expect(balance).toBe(10_000 - 50 - 100 - 300);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });
});
