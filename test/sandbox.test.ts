import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MESSAGES } from '@shahn/contract';
import { call, expectEnvelope, makeContext, type TestContext } from './helpers.js';

describe('sandbox (contract section 5)', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 1000 });
  });
  afterEach(async () => {
    await ctx.close();
  });

  async function sendAndTrack(MSSIDN: string, plan_code = 'PREPAID_DJEZZY', amount = 500) {
    const r = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.sandboxKey, body: { plan_code, MSSIDN, amount } });
    expect(r.status).toBe(200);
    const id: string = r.body.data.topupId;
    return async () => {
      const c = await call(ctx, 'GET', `/v3/mobile/check-id/${id}`, { key: ctx.merchant.sandboxKey });
      expectEnvelope(c);
      return c.body.data;
    };
  }

  /** Status at 0, 4.999, 5, 14.999 and 15 s. */
  async function timeline(check: () => Promise<{ status: string }>) {
    const seen: string[] = [];
    for (const step of [0, 4999, 1, 9999, 1]) {
      ctx.clock.advance(step);
      seen.push((await check()).status);
    }
    return seen;
  }

  it('a normal number: PENDING for 5 s, HANDLING until 15 s, then FULFILLED', async () => {
    const check = await sendAndTrack('0778037340');
    expect(await timeline(check)).toEqual(['PENDING', 'PENDING', 'HANDLING', 'HANDLING', 'FULFILLED']);
    const d = await check();
    expect(d).toMatchObject({ status: 'FULFILLED', MSSIDN: '0778037340', topup_amount: 500, balance_amount: 496.25 });
    expect(d.refund_message).toBeUndefined();
    expect(d.suggested_offers).toBeUndefined();
    expect('follow_orderid' in d).toBe(false);
  });

  it('0600000001: REFUNDED with its message, balance_amount 0', async () => {
    const check = await sendAndTrack('0600000001');
    expect(await timeline(check)).toEqual(['PENDING', 'PENDING', 'HANDLING', 'HANDLING', 'REFUNDED']);
    const d = await check();
    expect(d.refund_message).toBe('الرصيد المطلوب غير متوفر لهذا الرقم');
    expect(d.balance_amount).toBe(0);
    expect(d.suggested_offers).toBeUndefined();
  });

  it('0600000002: REFUNDED with the offer message and a FACTURE_DJEZZY suggestion of the same amount', async () => {
    const check = await sendAndTrack('0600000002', 'PREPAID_DJEZZY', 750);
    expect(await timeline(check)).toEqual(['PENDING', 'PENDING', 'HANDLING', 'HANDLING', 'REFUNDED']);
    const d = await check();
    expect(d.refund_message).toBe('هذا رقم الهاتف لا يقبل العرض المرسل، الرجاء إرسال أحد العروض التالية');
    expect(d.suggested_offers).toEqual([{ typename: '📋 FACTURE | فاتورة', plan_code: 'FACTURE_DJEZZY', amount: 750 }]);
    expect(d.balance_amount).toBe(0);
  });

  it('0600000003: UNKNOWN_ERROR with the notice; REFUNDED on its own after 12 hours', async () => {
    const check = await sendAndTrack('0600000003');
    expect(await timeline(check)).toEqual(['PENDING', 'PENDING', 'HANDLING', 'HANDLING', 'UNKNOWN_ERROR']);
    let d = await check();
    expect(d.refund_message).toBe(MESSAGES.UNKNOWN_NOTICE);
    expect(d.balance_amount).toBe(496.25);
    ctx.clock.advance(12 * 3600 * 1000 - 15_001);
    expect((await check()).status).toBe('UNKNOWN_ERROR');
    ctx.clock.advance(1);
    d = await check();
    expect(d.status).toBe('REFUNDED');
    expect(d.balance_amount).toBe(0);
    // Once the outcome is known, the customer reads that it was refunded, not that it is unknown.
    expect(d.refund_message).toBe(MESSAGES.REFUNDED_AFTER_REVIEW);
  });

  it('test numbers work with any plan (the prefix rule does not apply to them)', async () => {
    const check = await sendAndTrack('0600000001', 'PREPAID_OOREDOO', 500);
    ctx.clock.advance(15_000);
    expect((await check()).status).toBe('REFUNDED');
  });

  it('a GETMENU plan ends REFUNDED with the operator menu as suggested offers', async () => {
    const check = await sendAndTrack('0778037340', 'GETMENU_Djezzy', 1000);
    ctx.clock.advance(15_000);
    const d = await check();
    expect(d.status).toBe('REFUNDED');
    expect(d.balance_amount).toBe(0);
    expect(d.suggested_offers.length).toBeGreaterThan(1);
    expect(d.suggested_offers.map((o: { plan_code: string }) => o.plan_code)).toEqual(['PREPAID_DJEZZY', 'FACTURE_DJEZZY']);
  });

  it('never touches the balance or the ledger', async () => {
    for (const n of ['0778037340', '0600000001', '0600000002', '0600000003']) await sendAndTrack(n);
    ctx.clock.advance(20_000);
    const bal = await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.sandboxKey });
    expect(bal.body.data.balance).toBe(1000);
    // The ledger (read with the production key) holds the opening deposit only; a sandbox key sees none of it.
    const tx = await call(ctx, 'GET', '/v3/account/transactions', { key: ctx.merchant.productionKey });
    expect(tx.body.data.items.map((t: { type: string }) => t.type)).toEqual(['DEPOSIT']);
    expect((await call(ctx, 'GET', '/v3/account/transactions', { key: ctx.merchant.sandboxKey })).body.data.items).toEqual([]);
  });

  it('does not check the balance either (a sandbox order bigger than the balance is accepted)', async () => {
    const r = await call(ctx, 'POST', '/v3/mobile/send', {
      key: ctx.merchant.sandboxKey,
      body: { plan_code: 'GROS_MOBILIS', MSSIDN: '0661234567', amount: 300000 },
    });
    expect(r.status).toBe(200);
  });

  it('sandbox and production orders are invisible to each other', async () => {
    const s = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.sandboxKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref: 'same' } });
    const p = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref: 'same' } });
    const crossId = await call(ctx, 'GET', `/v3/mobile/check-id/${s.body.data.topupId}`, { key: ctx.merchant.productionKey });
    expect(crossId.status).toBe(404);
    const crossId2 = await call(ctx, 'GET', `/v3/mobile/check-id/${p.body.data.topupId}`, { key: ctx.merchant.sandboxKey });
    expect(crossId2.status).toBe(404);
    const byRefS = await call(ctx, 'GET', '/v3/mobile/check-ref/same', { key: ctx.merchant.sandboxKey });
    const byRefP = await call(ctx, 'GET', '/v3/mobile/check-ref/same', { key: ctx.merchant.productionKey });
    expect(byRefS.body.data._id).toBe(s.body.data.topupId);
    expect(byRefP.body.data._id).toBe(p.body.data.topupId);
    const listS = await call(ctx, 'GET', '/v3/mobile/list', { key: ctx.merchant.sandboxKey });
    const listP = await call(ctx, 'GET', '/v3/mobile/list', { key: ctx.merchant.productionKey });
    expect(listS.body.data.items.map((i: { _id: string }) => i._id)).toEqual([s.body.data.topupId]);
    expect(listP.body.data.items.map((i: { _id: string }) => i._id)).toEqual([p.body.data.topupId]);
  });

  it('status is derived from the clock: 100,000 open sandbox orders need no timers', async () => {
    // Insert 100,000 sandbox orders straight into the store (in batches of raw SQL), then read some at each stage.
    const { newObjectId } = await import('../src/lib/ids.js');
    const t0 = ctx.clock.now();
    const ids: string[] = [];
    const cols = 'id, merchant_id, env, ref, status, plan_code, mssidn, topup_amount, charge, created_at, updated_at, sandbox_scenario';
    for (let batch = 0; batch < 200; batch++) {
      const values: unknown[] = [];
      const rows: string[] = [];
      for (let j = 0; j < 500; j++) {
        const i = batch * 500 + j;
        const id = newObjectId(t0);
        if (i % 10_000 === 0) ids.push(id);
        rows.push('(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
        values.push(id, ctx.merchant.id, 'SANDBOX', `bulk-${i}`, 'PENDING', 'PREPAID_DJEZZY', i % 2 ? '0778037340' : '0600000003', 50_000, 49_625, t0, t0, i % 2 ? 'FULFILLED' : 'UNKNOWN');
      }
      await ctx.sql.run(`INSERT INTO orders (${cols}) VALUES ${rows.join(', ')}`, values);
    }
    const statuses = async () => {
      const out: string[] = [];
      for (const id of ids) out.push((await call(ctx, 'GET', `/v3/mobile/check-id/${id}`, { key: ctx.merchant.sandboxKey })).body.data.status);
      return [...new Set(out)].sort();
    };
    expect(await statuses()).toEqual(['PENDING']);
    ctx.clock.advance(5_000);
    expect(await statuses()).toEqual(['HANDLING']);
    ctx.clock.advance(10_000);
    expect(await statuses()).toEqual(['UNKNOWN_ERROR']); // the sampled ids are the even ones
    const list = await call(ctx, 'GET', '/v3/mobile/list?pageSize=100', { key: ctx.merchant.sandboxKey });
    expect(list.body.data.pagination.totalResults).toBe(100_000);
    expect(new Set(list.body.data.items.map((i: { status: string }) => i.status))).toEqual(new Set(['FULFILLED', 'UNKNOWN_ERROR']));
  }, 120_000);
});
