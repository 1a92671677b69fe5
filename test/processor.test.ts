import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MESSAGES } from '@shahn/contract';
import { OperatorSimulator, defaultSimulatorConfig, mergeSimulatorConfig } from '../src/gateways/operator-simulator.js';
import { call, makeContext, type TestContext } from './helpers.js';
import { resolveOrder } from '../src/support/resolve-order.js';
import { ManualGateway, makeProcessor, settle, waitUntil } from './processor-helpers.js';

/** A gateway call outside the processor: never aborted, the call always allowed to start. */
const freeCall = () => ({ signal: new AbortController().signal, callStarting: async () => true, remainingMs: () => 60_000 });

describe('the order processor', () => {
  let ctx: TestContext;
  let gw: ManualGateway;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000 });
    gw = new ManualGateway();
  });
  afterEach(async () => {
    await ctx.close();
  });

  const send = async (body: Record<string, unknown>) => {
    const r = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body });
    expect(r.status).toBe(200);
    return r.body.data.topupId as string;
  };
  const check = async (id: string) => (await call(ctx, 'GET', `/v3/mobile/check-id/${id}`, { key: ctx.merchant.productionKey })).body.data;
  const balance = async () => (await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey })).body.data.balance;
  const ledger = async () => (await call(ctx, 'GET', '/v3/account/transactions?pageSize=100', { key: ctx.merchant.productionKey })).body.data.items;

  it('PENDING → HANDLING (call started before the gateway) → FULFILLED; the charge stays', async () => {
    const id = await send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 1000 });
    expect((await check(id)).status).toBe('PENDING');
    const p = makeProcessor(ctx, gw);
    expect(await p.tick()).toBe(1);
    expect(await gw.waitForCall(id)).toMatchObject({ planCode: 'PREPAID_DJEZZY', mssidn: '0778037340', amount: 1000, operator: 'Djezzy', healthKey: 'djezzy' });
    expect((await check(id)).status).toBe('HANDLING');
    const stored = await ctx.deps.store.orders.findOrderAnywhere(id);
    expect(stored?.callStartedAt).toBe(ctx.clock.now());
    await gw.answer(id, { kind: 'FULFILLED' });
    await p.drain();
    expect(await check(id)).toMatchObject({ status: 'FULFILLED', balance_amount: 992.5 });
    expect(await balance()).toBe(9007.5);
    expect(gw.calls.get(id)).toBe(1);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it('REFUNDED: the charge comes back as one REFUND-FLEXY entry; message and offers recorded', async () => {
    const id = await send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    const p = makeProcessor(ctx, gw);
    await p.tick();
    await settle();
    await gw.answer(id, {
      kind: 'REFUNDED',
      refundMessage: MESSAGES.PLAN_MISMATCH,
      suggestedOffers: [{ typename: MESSAGES.FACTURE_TYPENAME, plan_code: 'FACTURE_DJEZZY', amount: 500 }],
    });
    await p.drain();
    expect(await check(id)).toMatchObject({
      status: 'REFUNDED',
      balance_amount: 0,
      refund_message: 'هذا العرض غير متوافق مع هذا الرقم جرب فاتورة',
      suggested_offers: [{ typename: '📋 FACTURE | فاتورة', plan_code: 'FACTURE_DJEZZY', amount: 500 }],
    });
    expect(await balance()).toBe(10000);
    const entries = await ledger();
    expect(entries.map((e: { type: string }) => e.type)).toEqual(['REFUND-FLEXY', 'FLEXY', 'DEPOSIT']);
    expect(entries[0]).toMatchObject({ operation: 'INCREMENT', amount: 496.25, oldBalance: 9503.75, newBalance: 10000, objid: id });
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  for (const [name, outcome] of [
    ['an unclear answer', { kind: 'UNKNOWN', reason: 'garbled' }],
    ['a gateway error', new Error('modem reset')],
  ] as const) {
    it(`${name} → UNKNOWN_ERROR with the notice, the charge held, an alert queued; never refunded`, async () => {
      const id = await send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
      const p = makeProcessor(ctx, gw);
      await p.tick();
      await settle();
      await gw.answer(id, outcome);
      await p.drain();
      expect(await check(id)).toMatchObject({ status: 'UNKNOWN_ERROR', balance_amount: 496.25, refund_message: MESSAGES.UNKNOWN_NOTICE });
      expect(await balance()).toBe(9503.75);
      const alerts = await ctx.deps.store.outbox.listDue('alert', ctx.clock.now(), 10);
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({ kind: 'alert', subject: id, topic: 'UNKNOWN_ERROR' });
      // Nothing moves it on its own: more ticks, more recovery, more time.
      ctx.clock.advance(48 * 3600 * 1000);
      await p.recover();
      await p.tick();
      expect((await check(id)).status).toBe('UNKNOWN_ERROR');
      expect(await balance()).toBe(9503.75);
      expect(gw.calls.get(id)).toBe(1);
    });
  }

  it('a gateway timeout is UNKNOWN_ERROR', async () => {
    const id = await send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    const p = makeProcessor(ctx, gw, { gatewayTimeoutMs: 30, leaseMs: 60_000 });
    await p.tick();
    await p.drain();
    expect((await check(id)).status).toBe('UNKNOWN_ERROR');
  });

  it('an operator that is down: the order waits PENDING (never called), ping says down', async () => {
    gw.down.add('djezzy');
    ctx.health.set('djezzy', false);
    const id = await send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    const p = makeProcessor(ctx, gw, { downRetryMs: 30_000 });
    await p.tick();
    await p.drain();
    expect((await check(id)).status).toBe('PENDING');
    expect(gw.calls.get(id)).toBeUndefined();
    expect((await call(ctx, 'GET', '/v3/ping')).body.data.operators.djezzy).toBe('down');
    expect(await p.tick()).toBe(0); // not before downRetryMs
    gw.down.delete('djezzy');
    ctx.clock.advance(30_000);
    expect(await p.tick()).toBe(1);
    await settle();
    await gw.answer(id, { kind: 'FULFILLED' });
    await p.drain();
    expect((await check(id)).status).toBe('FULFILLED');
  });

  it('recovery: a lease that expired after the call started → UNKNOWN_ERROR + alert, never a second send', async () => {
    const id = await send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    const crashed = makeProcessor(ctx, gw, { owner: 'crashed', leaseMs: 60_000 });
    await crashed.tick();
    await gw.waitForCall(id); // call started, then the worker "dies" (its call never returns)
    const fresh = makeProcessor(ctx, gw, { owner: 'fresh' });
    ctx.clock.advance(59_999);
    expect((await fresh.recover()).uncertain).toHaveLength(0);
    ctx.clock.advance(2);
    const r = await fresh.recover();
    expect(r.uncertain.map((o) => o.id)).toEqual([id]);
    expect(await fresh.tick()).toBe(0);
    expect(gw.calls.get(id)).toBe(1);
    expect((await check(id)).status).toBe('UNKNOWN_ERROR');
    expect(await balance()).toBe(9503.75);
    expect(await ctx.deps.store.outbox.listDue('alert', ctx.clock.now(), 10)).toHaveLength(1);
  });

  it('recovery: a lease that expired before the call started → PENDING, then sent once', async () => {
    const id = await send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    // Claim without processing (a worker that died between claim and "call started").
    await ctx.deps.store.processing.claimOrders({ owner: 'dead', now: ctx.clock.now(), leaseMs: 60_000, limit: 10 });
    expect((await check(id)).status).toBe('HANDLING');
    ctx.clock.advance(60_001);
    const p = makeProcessor(ctx, gw);
    expect((await p.recover()).requeued).toEqual([id]);
    expect((await check(id)).status).toBe('PENDING');
    await p.tick();
    await settle();
    await gw.answer(id, { kind: 'FULFILLED' });
    await p.drain();
    expect(gw.calls.get(id)).toBe(1);
    expect((await check(id)).status).toBe('FULFILLED');
  });

  it('a worker whose lease was lost cannot start the call', async () => {
    const id = await send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    await ctx.deps.store.processing.claimOrders({ owner: 'a', now: ctx.clock.now(), leaseMs: 1000, limit: 1 });
    ctx.clock.advance(1001);
    expect(await ctx.deps.store.processing.markCallStarted({ orderId: id, owner: 'a', now: ctx.clock.now() })).toBe(false);
    expect(await ctx.deps.store.processing.markCallStarted({ orderId: id, owner: 'b', now: ctx.clock.now() })).toBe(false);
  });

  it("a gateway that asks twice to start the call is refused the second time; it sees the gateway timeout's time left", async () => {
    const id = await send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    const seen: unknown[] = [];
    const twice = {
      name: 'twice',
      isUp: () => true,
      async send(_r: unknown, ctx: { callStarting(c?: string): Promise<boolean>; remainingMs(): number }) {
        seen.push(ctx.remainingMs(), await ctx.callStarting('a'), await ctx.callStarting('b'));
        return { kind: 'FULFILLED' as const };
      },
    };
    const p = makeProcessor(ctx, twice, { gatewayTimeoutMs: 7_000 });
    await p.tick();
    await p.drain();
    expect(seen[0]).toBeGreaterThan(6_000);
    expect(seen[0]).toBeLessThanOrEqual(7_000);
    expect(seen.slice(1)).toEqual([true, false]);
    expect(await ctx.deps.store.orders.findOrderAnywhere(id)).toMatchObject({ status: 'FULFILLED', gatewayChannel: 'a' });
  });

  /** An order whose gateway call is still running when recovery makes it UNKNOWN_ERROR (the slow worker's lease expired). */
  async function uncertainWhileCalling() {
    const id = await send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    const slow = makeProcessor(ctx, gw, { owner: 'slow', leaseMs: 60_000 });
    await slow.tick();
    await gw.waitForCall(id);
    ctx.clock.advance(60_001);
    await makeProcessor(ctx, gw, { owner: 'other' }).recover();
    return { id, slow };
  }

  it('a definitive answer arriving after recovery made it UNKNOWN_ERROR resolves it (late answer), audited', async () => {
    const { id, slow } = await uncertainWhileCalling();
    expect((await check(id)).status).toBe('UNKNOWN_ERROR');
    await gw.answer(id, { kind: 'REFUNDED', refundMessage: MESSAGES.WRONG_NUMBER });
    await slow.drain();
    expect(await check(id)).toMatchObject({ status: 'REFUNDED', refund_message: MESSAGES.WRONG_NUMBER });
    expect(await balance()).toBe(10000);
    const audit = await ctx.deps.store.audit.listAudit({ offset: 0, limit: 10, target: id });
    expect(audit.items[0]?.action).toBe('order.late-gateway-answer');
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it('a late FULFILLED answer drops the uncertainty notice: a FULFILLED order carries no refund_message', async () => {
    const { id, slow } = await uncertainWhileCalling();
    expect((await check(id)).refund_message).toBe(MESSAGES.UNKNOWN_NOTICE);
    await gw.answer(id, { kind: 'FULFILLED' });
    await slow.drain();
    const d = await check(id);
    expect(d.status).toBe('FULFILLED');
    expect(d.refund_message).toBeUndefined();
    expect(await balance()).toBe(9503.75);
  });

  it('an operator answer that contradicts support\'s decision leaves the decision, and raises an alert and an audit record', async () => {
    const { id, slow } = await uncertainWhileCalling();
    await resolveOrder(ctx.deps, { actor: 'amina', orderId: id, to: 'REFUNDED', reason: 'operator line said failed' });
    expect(await balance()).toBe(10000);
    await gw.answer(id, { kind: 'FULFILLED' });
    await slow.drain();
    expect((await check(id)).status).toBe('REFUNDED');
    expect(await balance()).toBe(10000);
    const audit = await ctx.deps.store.audit.listAudit({ offset: 0, limit: 10, target: id });
    expect(audit.items[0]).toMatchObject({ action: 'order.late-answer-contradicts', details: { answer: 'FULFILLED', status: 'REFUNDED' } });
    const alerts = (await ctx.deps.store.outbox.listDue('alert', ctx.clock.now(), 10)).filter((a) => a.topic === 'LATE_ANSWER_CONTRADICTS');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.payload).toMatchObject({ event: 'order.late_answer_contradicts', orderId: id });
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it('claims respect concurrency and take the oldest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 }));
      ctx.clock.advance(10);
    }
    const p = makeProcessor(ctx, gw, { concurrency: 2 });
    expect(await p.tick()).toBe(2);
    await gw.waitForCall(ids[0]!);
    await gw.waitForCall(ids[1]!);
    expect([...gw.pending.keys()].sort()).toEqual(ids.slice(0, 2).sort());
    expect(await p.tick()).toBe(0);
    await gw.answer(ids[0]!, { kind: 'FULFILLED' });
    await waitUntil(() => p.active < 2);
    expect(await p.tick()).toBe(1);
  });

  it('the store refuses transitions off the lifecycle graph and refunds without the refund entry', async () => {
    const id = await send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 });
    const sql = ctx.sql;
    await expect(sql.run(`UPDATE orders SET status = 'FULFILLED' WHERE id = ?`, [id])).rejects.toThrow(/illegal order transition/);
    await sql.run(`UPDATE orders SET status = 'HANDLING' WHERE id = ?`, [id]);
    await expect(sql.run(`UPDATE orders SET status = 'REFUNDED' WHERE id = ?`, [id])).rejects.toThrow(/REFUND-FLEXY/);
    await sql.run(`UPDATE orders SET status = 'FULFILLED' WHERE id = ?`, [id]);
    await expect(sql.run(`UPDATE orders SET status = 'UNKNOWN_ERROR' WHERE id = ?`, [id])).rejects.toThrow(/illegal order transition/);
    await expect(sql.run(`UPDATE merchants SET balance = balance + 100`)).rejects.toThrow(/only through a ledger entry/);
    await expect(sql.run(`DELETE FROM ledger_entries`)).rejects.toThrow(/permanent/);
    await expect(sql.run(`UPDATE ledger_entries SET amount = 1`)).rejects.toThrow(/immutable/);
    await ctx.deps.store.audit.insertAudit({ id: 'a1', at: ctx.clock.now(), actor: 'test', action: 'x', target: id, reason: '', details: {} });
    await expect(sql.run(`DELETE FROM audit_log`)).rejects.toThrow(/append-only/);
    await expect(sql.run(`UPDATE audit_log SET reason = 'edited'`)).rejects.toThrow(/append-only/);
  });
});

describe('the operator simulator', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 1_000_000 });
  });
  afterEach(async () => {
    await ctx.close();
  });

  /** Zero latency and exactly these outcome weights (the others 0). */
  const zeroLatency = (rates: Record<string, number>) =>
    mergeSimulatorConfig(defaultSimulatorConfig(), {
      seed: 7,
      defaults: { latencyMs: { min: 0, max: 0 }, rates: { fulfilled: 0, wrongNumber: 0, planMismatch: 0, timeout: 0, garbled: 0, ...rates } },
    });

  it('drives production orders to outcomes at the configured rates, each order sent once', async () => {
    const sim = new OperatorSimulator(() => ctx.deps.catalogue.get(), zeroLatency({ fulfilled: 6, wrongNumber: 2, planMismatch: 1, garbled: 1, timeout: 0 }));
    const ids: string[] = [];
    for (let i = 0; i < 400; i++) {
      const r = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234567', amount: 100 } });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      ids.push(r.body.data.topupId);
    }
    const p = makeProcessor(ctx, sim, { concurrency: 50 });
    while ((await p.tick()) > 0) await p.drain();
    await p.drain();
    const counts: Record<string, number> = {};
    const messages = new Set<string>();
    for (const id of ids) {
      const o = await ctx.deps.store.orders.findOrderAnywhere(id);
      counts[o!.status] = (counts[o!.status] ?? 0) + 1;
      if (o!.refundMessage) messages.add(o!.refundMessage);
      expect(sim.callsFor(id)).toBe(1);
    }
    expect(counts.FULFILLED).toBeGreaterThan(180);
    expect(counts.FULFILLED).toBeLessThan(300);
    expect(counts.REFUNDED).toBeGreaterThan(70);
    expect(counts.UNKNOWN_ERROR).toBeGreaterThan(15);
    expect(counts.PENDING ?? 0).toBe(0);
    expect(messages).toEqual(new Set([MESSAGES.WRONG_NUMBER, MESSAGES.PLAN_MISMATCH, MESSAGES.UNKNOWN_NOTICE]));
    expect(sim.duplicateCalls()).toEqual([]);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it('the same seed replays the same outcomes', async () => {
    const a = new OperatorSimulator(() => ctx.deps.catalogue.get(), zeroLatency({ fulfilled: 1, wrongNumber: 1, garbled: 1 }));
    const b = new OperatorSimulator(() => ctx.deps.catalogue.get(), zeroLatency({ fulfilled: 1, wrongNumber: 1, garbled: 1 }));
    const req = { orderId: 'x', ref: 'r', createdAt: 0, planCode: 'PREPAID_MOBILIS', operator: 'Mobilis', healthKey: 'mobilis' as const, mssidn: '0661234567', amount: 100, isMenu: false };
    const outA = [];
    const outB = [];
    for (let i = 0; i < 30; i++) {
      outA.push((await a.send({ ...req, orderId: `a${i}` }, freeCall())).kind);
      outB.push((await b.send({ ...req, orderId: `b${i}` }, freeCall())).kind);
    }
    expect(outA).toEqual(outB);
    expect(new Set(outA).size).toBe(3);
  });

  it('GETMENU plans are answered with a menu of several offers (REFUNDED, balance_amount 0)', async () => {
    const sim = new OperatorSimulator(() => ctx.deps.catalogue.get(), zeroLatency({ fulfilled: 1 }));
    const r = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'GETMENU_Mobilis', MSSIDN: '0661234567', amount: 1000 } });
    const p = makeProcessor(ctx, sim);
    await p.tick();
    await p.drain();
    const d = (await call(ctx, 'GET', `/v3/mobile/check-id/${r.body.data.topupId}`, { key: ctx.merchant.productionKey })).body.data;
    expect(d.status).toBe('REFUNDED');
    expect(d.balance_amount).toBe(0);
    expect(d.suggested_offers.length).toBeGreaterThanOrEqual(3);
    expect(d.suggested_offers).toContainEqual({ typename: '📱🌐 AUTO | MIX 500', plan_code: 'MIX500_MOBILIS', amount: 500 });
    expect(d.suggested_offers).toContainEqual({ typename: '📱 PREPAID | عادي', plan_code: 'PREPAID_MOBILIS', amount: 1000 });
  });

  it('forced numbers, outages and latency are configurable at runtime; bad config is refused', async () => {
    const sim = new OperatorSimulator(() => ctx.deps.catalogue.get(), zeroLatency({ fulfilled: 1 }));
    sim.configure({ numbers: { '0661111111': 'wrongNumber' }, operators: { ooredoo: { down: true } } });
    expect(sim.isUp('ooredoo')).toBe(false);
    expect(sim.isUp('mobilis')).toBe(true);
    const out = await sim.send({ orderId: 'n', ref: 'r', createdAt: 0, planCode: 'PREPAID_MOBILIS', operator: 'Mobilis', healthKey: 'mobilis', mssidn: '0661111111', amount: 100, isMenu: false }, freeCall());
    expect(out).toEqual({ kind: 'REFUNDED', refundMessage: MESSAGES.WRONG_NUMBER });
    expect(() => sim.configure({ operators: { nokia: {} } })).toThrow(/operators are/);
    expect(() => sim.configure({ defaults: { rates: { fulfilled: -1 } } })).toThrow(/rates.fulfilled/);
    expect(() => sim.configure({ defaults: { latencyMs: { min: 10, max: 5 } } })).toThrow(/max must be/);
  });

  it('a timeout outcome hangs until the processor gives up → UNKNOWN_ERROR', async () => {
    const sim = new OperatorSimulator(() => ctx.deps.catalogue.get(), zeroLatency({ timeout: 1 }));
    const r = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234567', amount: 100 } });
    const p = makeProcessor(ctx, sim, { gatewayTimeoutMs: 50 });
    await p.tick();
    await p.drain();
    expect((await ctx.deps.store.orders.findOrderAnywhere(r.body.data.topupId))?.status).toBe('UNKNOWN_ERROR');
  });
});
