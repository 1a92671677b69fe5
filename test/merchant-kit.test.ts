/** @shahn/merchant: the sync kit against a real shahn on loopback, on a test clock shared by both (or, where a test says so, the kit on its own clock and the server's sandbox moved by its sandbox clock). Both stores. */
import { readFileSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SyncKit, type Hooks, type KitStore } from '@shahn/merchant';
import { Shahn } from '@shahn/sdk';
import { makeContext, openTestKitStore, tempDir, type TestContext } from './helpers.js';
import { waitUntil } from './processor-helpers.js';
import { ROOT } from './serve-process.js';
import { TestClock } from '../src/lib/clock.js';
import { FaultProxy } from './fault-proxy.js';

interface Calls {
  fulfilled: string[];
  refunded: { id: string; message: string | null; offers: unknown }[];
  uncertain: string[];
}

describe('@shahn/merchant sync kit', () => {
  let ctx: TestContext;
  let base: string;
  let dir: string;
  let stores: KitStore[];
  let calls: Calls;

  beforeEach(async () => {
    ctx = await makeContext({ balance: 100_000 });
    base = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    dir = tempDir('shahn-kit-');
    stores = [];
    calls = { fulfilled: [], refunded: [], uncertain: [] };
  });
  afterEach(async () => {
    for (const s of stores) await s.close();
    await ctx.close();
  });

  const recordingHooks = (): Hooks => ({
    onFulfilled: (o) => void calls.fulfilled.push(o.id),
    onRefunded: (o, info) => void calls.refunded.push({ id: o.id, message: info.refund_message, offers: info.suggested_offers }),
    onUncertain: (o) => void calls.uncertain.push(o.id),
  });

  async function kit(options: { key?: string; hooks?: Hooks; instanceId?: string; hookLeaseMs?: number } = {}) {
    const { store } = await openTestKitStore(dir, ctx.db);
    stores.push(store);
    return new SyncKit({
      client: new Shahn({ apiKey: options.key ?? ctx.merchant.sandboxKey, baseUrl: base, maxRetries: 0 }),
      store,
      clock: ctx.clock,
      hooks: options.hooks ?? recordingHooks(),
      ...(options.instanceId ? { instanceId: options.instanceId } : {}),
      ...(options.hookLeaseMs ? { hookLeaseMs: options.hookLeaseMs } : {}),
    });
  }

  it('getOrder answers from the store and calls the API only while the order is open', async () => {
    const k = await kit();
    await k.send({ orderId: 'o-1', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    expect(k.apiCalls).toBe(1);
    expect((await k.getOrder('o-1'))?.status).toBe('PENDING');
    expect(k.apiCalls).toBe(2);
    ctx.clock.advance(16_000);
    expect((await k.getOrder('o-1'))?.status).toBe('FULFILLED');
    expect(k.apiCalls).toBe(3);
    for (let i = 0; i < 5; i++) expect((await k.getOrder('o-1'))?.status).toBe('FULFILLED');
    expect(k.apiCalls).toBe(3);
    await k.deliverEvents();
    expect(calls.fulfilled).toEqual(['o-1']);
  });

  it('the poller follows the documented durations: fewer calls than the 5 s loop for a sandbox order', async () => {
    const k = await kit();
    await k.send({ orderId: 'o-2', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    const statuses: string[] = [];
    for (let t = 0; t <= 20_000; t += 1000) {
      await k.pollOnce();
      statuses.push((await k.store.getOrder('o-2'))!.status);
      ctx.clock.advance(1000);
    }
    expect(statuses[4]).toBe('PENDING');
    expect(statuses[5]).toBe('HANDLING');
    expect(statuses[14]).toBe('HANDLING');
    expect(statuses[15]).toBe('FULFILLED');
    const order = (await k.store.getOrder('o-2'))!;
    // Checks at 5, 10 and 15 s: 3, against the guide loop's 4 (0, 5, 10, 15 s), and known the moment it is final.
    expect(order.checks).toBe(3);
    expect(order.knownFinalAt! - order.createdAt).toBe(15_000);
    await k.deliverEvents();
    expect(calls.fulfilled).toEqual(['o-2']);
  });

  it('0600000003: UNKNOWN_ERROR is not refunded; rechecked after 24 h; REFUNDED then, onRefunded exactly once', async () => {
    const k = await kit();
    await k.send({ orderId: 'o-3', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000003', amount: 500 });
    for (let i = 0; i < 20; i++) {
      ctx.clock.advance(1000);
      await k.pollOnce();
      await k.deliverEvents();
    }
    expect((await k.store.getOrder('o-3'))?.status).toBe('UNKNOWN_ERROR');
    expect(calls.uncertain).toEqual(['o-3']);
    expect(calls.refunded).toEqual([]);
    const spent = k.apiCalls;
    // No more polling of an UNKNOWN_ERROR order, and no recheck before 24 h (the API says REFUNDED after 12 h already).
    ctx.clock.advance(13 * 3600_000);
    await k.pollOnce();
    expect(await k.recheckUncertain()).toBe(0);
    expect(k.apiCalls).toBe(spent);
    expect(calls.refunded).toEqual([]);
    ctx.clock.advance(11 * 3600_000);
    expect(await k.recheckUncertain()).toBe(1);
    expect((await k.store.getOrder('o-3'))?.status).toBe('REFUNDED');
    // Refunded after the recheck, with the message that says so (not the uncertainty notice).
    expect(calls.refunded).toEqual([{ id: 'o-3', message: 'لم تتم عملية الشحن، وتم استرداد المبلغ', offers: null }]);
    ctx.clock.advance(24 * 3600_000);
    await k.recheckUncertain();
    await k.deliverEvents();
    expect(calls.refunded).toHaveLength(1);
    expect(calls.uncertain).toHaveLength(1);
  });

  /**
   * A kit on its own clock, as a merchant's process has: the server's time stands still and its
   * sandbox moves by the sandbox clock's API, both moved together by `step`.
   */
  async function ownClockKit() {
    const kitClock = new TestClock(ctx.clock.now());
    const { store } = await openTestKitStore(dir, ctx.db);
    stores.push(store);
    const client = new Shahn({ apiKey: ctx.merchant.sandboxKey, baseUrl: base, maxRetries: 0 });
    const k = new SyncKit({ client, store, clock: kitClock, hooks: recordingHooks() });
    await client.sandbox.reset();
    const step = async (seconds: number) => {
      await client.sandbox.advance(seconds);
      kitClock.advance(seconds * 1000);
      await k.pollOnce();
      await k.deliverEvents();
    };
    return { k, kitClock, sandbox: client.sandbox, step };
  }

  it('0600000004 and 0600000005 moved by the sandbox clock: never refunded while UNKNOWN_ERROR; at the recheck 04 is fulfilled, 05 refunded exactly once', async () => {
    const { k, kitClock, sandbox, step } = await ownClockKit();
    await k.send({ orderId: 'o-4', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000004', amount: 500 });
    await k.send({ orderId: 'o-5', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000005', amount: 500 });
    for (let i = 0; i < 4; i++) await step(5);
    expect([(await k.store.getOrder('o-4'))?.status, (await k.store.getOrder('o-5'))?.status]).toEqual(['UNKNOWN_ERROR', 'UNKNOWN_ERROR']);
    expect(calls.uncertain.sort()).toEqual(['o-4', 'o-5']);
    expect(calls.refunded).toEqual([]);
    // An hour later on the sandbox's clock the operator's answers are in; the kit learns them at its daily recheck.
    await sandbox.advance(3600);
    kitClock.advance(3600_000);
    await k.pollOnce();
    expect(calls.fulfilled).toEqual([]);
    expect(calls.refunded).toEqual([]);
    kitClock.advance(24 * 3600_000);
    expect(await k.recheckUncertain()).toBe(2);
    await k.deliverEvents();
    expect((await k.store.getOrder('o-4'))?.status).toBe('FULFILLED');
    expect((await k.store.getOrder('o-5'))?.status).toBe('REFUNDED');
    expect(calls.fulfilled).toEqual(['o-4']);
    expect(calls.refunded).toEqual([{ id: 'o-5', message: 'لم تتم عملية الشحن، وتم استرداد المبلغ', offers: null }]);
    kitClock.advance(48 * 3600_000);
    await sandbox.advance(86_400);
    expect(await k.recheckUncertain()).toBe(0);
    await k.pollOnce();
    await k.deliverEvents();
    expect(calls.refunded).toHaveLength(1);
    expect(calls.fulfilled).toHaveLength(1);
  });

  it('0600000006, an operator outage: PENDING for 10 minutes, polled less and less often, never given up; FULFILLED then, onFulfilled once', async () => {
    const { k, step } = await ownClockKit();
    await k.send({ orderId: 'o-6', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000006', amount: 500 });
    const seen = new Set<string>();
    // 12 steps of 5 s, then 35 of 15 s: 585 s. The schedule checks every 5 s for a minute, every 15 s to
    // 5 minutes, then every minute: 12 + 16 + 5 checks or so, fewer than the 47 steps.
    for (const [n, seconds] of [[12, 5], [35, 15]] as const) {
      for (let i = 0; i < n; i++) {
        await step(seconds);
        seen.add((await k.store.getOrder('o-6'))!.status);
      }
    }
    expect([...seen]).toEqual(['PENDING']);
    const pending = (await k.store.getOrder('o-6'))!;
    expect(pending.checks).toBeGreaterThanOrEqual(28);
    expect(pending.checks).toBeLessThanOrEqual(38);
    expect(calls).toEqual({ fulfilled: [], refunded: [], uncertain: [] });
    // Over at 600 s, FULFILLED at 610 s; the kit checks once a minute by then.
    for (let i = 0; i < 6; i++) await step(15);
    const done = (await k.store.getOrder('o-6'))!;
    expect(done.status).toBe('FULFILLED');
    expect(calls).toEqual({ fulfilled: ['o-6'], refunded: [], uncertain: [] });
    for (let s = 0; s < 600; s += 60) await step(60);
    expect((await k.store.getOrder('o-6'))!.checks).toBe(done.checks);
    expect(calls.fulfilled).toEqual(['o-6']);
  });

  it('0600000007, the lost reply: the send is answered 500; the SDK finds the top-up by ref before anything else, and the kit follows it to FULFILLED; one order, never rejected', async () => {
    const { k, step } = await ownClockKit();
    const sent = await k.send({ orderId: 'o-7', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000007', amount: 500 });
    expect(sent).toMatchObject({ status: 'PENDING', topupId: expect.stringMatching(/^[0-9a-f]{24}$/) });
    const statuses: string[] = [];
    for (let s = 0; s < 20; s += 5) {
      await step(5);
      statuses.push((await k.store.getOrder('o-7'))!.status);
    }
    expect(statuses).toEqual(['HANDLING', 'HANDLING', 'FULFILLED', 'FULFILLED']);
    expect(calls).toEqual({ fulfilled: ['o-7'], refunded: [], uncertain: [] });
    // The order the lost reply recorded is the only one: the SDK did not send again.
    const client = new Shahn({ apiKey: ctx.merchant.sandboxKey, baseUrl: base, maxRetries: 0 });
    const list = await client.mobile.list({ page: 1, pageSize: 10 });
    expect(list.items.map((t) => t._id)).toEqual([sent.topupId]);
    // A resend with the same ref is refused; check-ref answers with the one order.
    await expect(client.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000007', amount: 500, ref: 'o-7' })).rejects.toMatchObject({ code: 'DUPLICATED_REF' });
    await expect(client.mobile.checkRef('o-7')).resolves.toMatchObject({ _id: sent.topupId, status: 'FULFILLED' });
  });

  it('onRefunded gets the Arabic message and the suggested offers', async () => {
    const k = await kit();
    await k.send({ orderId: 'o-4', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000002', amount: 700 });
    ctx.clock.advance(16_000);
    await k.getOrder('o-4');
    await k.deliverEvents();
    expect(calls.refunded).toEqual([{ id: 'o-4', message: 'هذا رقم الهاتف لا يقبل العرض المرسل، الرجاء إرسال أحد العروض التالية', offers: [{ typename: '📋 FACTURE | فاتورة', plan_code: 'FACTURE_DJEZZY', amount: 700 }] }]);
  });

  it('a hook that throws is retried until it succeeds, then never called again', async () => {
    let attempts = 0;
    const k = await kit({
      hooks: {
        onRefunded: () => {
          attempts++;
          if (attempts < 3) throw new Error('wallet service down');
        },
      },
    });
    await k.send({ orderId: 'o-5', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000001', amount: 500 });
    ctx.clock.advance(16_000);
    await k.getOrder('o-5');
    expect(attempts).toBe(1);
    await k.deliverEvents();
    expect(attempts).toBe(1); // not due yet
    ctx.clock.advance(5_000);
    await k.deliverEvents();
    expect(attempts).toBe(2);
    ctx.clock.advance(10_000);
    await k.deliverEvents();
    expect(attempts).toBe(3);
    ctx.clock.advance(3600_000);
    await k.deliverEvents();
    expect(attempts).toBe(3);
    expect((await k.store.listEvents({ orderId: 'o-5' }))[0]).toMatchObject({ state: 'done', attempts: 3 });
  });

  it('a process that stops after the transition but before the hook: the restarted kit calls it, once', async () => {
    const first = await kit();
    await first.send({ orderId: 'o-6', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000001', amount: 500 });
    ctx.clock.advance(16_000);
    // The status and its transition are committed together; then the process dies before any hook runs.
    const t = await new Shahn({ apiKey: ctx.merchant.sandboxKey, baseUrl: base }).mobile.checkRef('o-6');
    expect(await first.store.applyStatus('o-6', 'PENDING', { status: 'REFUNDED', refundMessage: t.refund_message ?? null, suggestedOffers: null, apiCreatedAt: null, nextCheckAt: null }, ctx.clock.now())).toBe(true);
    expect((await first.store.listEvents({ orderId: 'o-6' })).map((e) => e.state)).toEqual(['pending']);
    const restarted = await kit();
    await restarted.deliverEvents();
    await restarted.deliverEvents();
    expect(calls.refunded.map((r) => r.id)).toEqual(['o-6']);
    expect(calls.refunded[0]?.message).toBe('الرصيد المطلوب غير متوفر لهذا الرقم');
  });

  it('a process that dies while a hook runs: never called again automatically; listed as interrupted; redeliver on demand', async () => {
    const dying = await kit({ hooks: { onRefunded: () => new Promise(() => undefined) }, hookLeaseMs: 60_000, instanceId: 'dying' });
    await dying.send({ orderId: 'o-7', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000001', amount: 500 });
    ctx.clock.advance(16_000);
    void dying.getOrder('o-7'); // its hook hangs forever: the process "dies" inside it
    await new Promise((r) => setTimeout(r, 100));
    const restarted = await kit({ instanceId: 'restarted' });
    await restarted.deliverEvents();
    expect(calls.refunded).toEqual([]);
    ctx.clock.advance(60_001);
    await restarted.deliverEvents();
    expect(calls.refunded).toEqual([]);
    expect((await restarted.store.listEvents({ state: 'interrupted' })).map((e) => e.orderId)).toEqual(['o-7']);
    expect(await restarted.store.redeliver('o-7', 'REFUNDED', ctx.clock.now())).toBe(true);
    await restarted.deliverEvents();
    expect(calls.refunded.map((r) => r.id)).toEqual(['o-7']);
  });

  it('two kits on one store (two connections) polling the same orders: each hook exactly once', async () => {
    const a = await kit({ instanceId: 'a' });
    const b = await kit({ instanceId: 'b' });
    const numbers = ['0778037340', '0600000001', '0600000002', '0600000003'];
    for (let i = 0; i < 40; i++) await (i % 2 ? a : b).send({ orderId: `m-${i}`, plan_code: 'PREPAID_DJEZZY', MSSIDN: numbers[i % 4]!, amount: 100 + i });
    for (let step = 0; step < 25; step++) {
      ctx.clock.advance(1000);
      await Promise.all([a.pollOnce(), b.pollOnce(), a.deliverEvents(), b.deliverEvents()]);
    }
    await Promise.all([a.deliverEvents(), b.deliverEvents()]);
    expect(calls.fulfilled.sort()).toEqual(Array.from({ length: 10 }, (_, j) => `m-${j * 4}`).sort());
    expect(calls.refunded).toHaveLength(20);
    expect(new Set(calls.refunded.map((r) => r.id)).size).toBe(20);
    expect(calls.uncertain).toHaveLength(10);
  });

  it('many open orders are polled through list pages: far fewer calls than orders', async () => {
    const k = await kit();
    for (let i = 0; i < 250; i++) await k.send({ orderId: `b-${i}`, plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 });
    const sendCalls = k.apiCalls;
    for (let t = 0; t < 20; t++) {
      ctx.clock.advance(1000);
      await k.pollOnce();
    }
    await k.deliverEvents();
    expect(calls.fulfilled).toHaveLength(250);
    const pollCalls = k.apiCalls - sendCalls;
    expect(pollCalls).toBeLessThan(30);
  }, 90_000); // 250 sends in turn: about 3 s alone, past 30 s under the full suite's load on PostgreSQL

  it('a list pass reschedules every open order its pages show, due or not: their next checks fall together', async () => {
    const k = await kit();
    const store = k.store;
    for (const id of ['s-1', 's-2']) await k.send({ orderId: id, plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 });
    ctx.clock.advance(2_000);
    await k.send({ orderId: 's-3', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 });
    const before = (await store.getOrder('s-3'))!.nextCheckAt!;
    expect(before).toBeGreaterThan((await store.getOrder('s-1'))!.nextCheckAt!);
    // s-1 and s-2 are due first: one list page answers them, and s-3 with them.
    ctx.clock.advance((await store.getOrder('s-1'))!.nextCheckAt! - ctx.clock.now());
    const calls0 = k.apiCalls;
    expect(await k.pollOnce()).toBe(2);
    expect(k.apiCalls - calls0).toBe(1);
    const next = await Promise.all(['s-1', 's-2', 's-3'].map(async (id) => (await store.getOrder(id))!.nextCheckAt));
    expect(new Set(next).size).toBe(1);
    expect(next[0]).not.toBe(before);
  });

  it('a send refused by the API is REJECTED locally and rethrown; a send whose answer never came is found by ref', async () => {
    const k = await kit({ key: ctx.merchant.productionKey });
    await expect(k.send({ orderId: 'r-1', plan_code: 'GROS_MOBILIS', MSSIDN: '0661234567', amount: 300000 })).rejects.toThrow(/balance/);
    expect((await k.store.getOrder('r-1'))?.status).toBe('REJECTED');
    // An order recorded as SENDING whose API call did go through (the process died before recording the answer).
    const store = k.store;
    await store.insertOrder({
      id: 's-1', ref: 's-1', topupId: null, planCode: 'PREPAID_DJEZZY', mssidn: '0778037340', amount: 100, status: 'SENDING', refundMessage: null,
      suggestedOffers: null, createdAt: ctx.clock.now(), updatedAt: ctx.clock.now(), apiCreatedAt: null, knownFinalAt: null, nextCheckAt: ctx.clock.now(), checks: 0, lastError: null,
    });
    await new Shahn({ apiKey: ctx.merchant.productionKey, baseUrl: base }).mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref: 's-1' });
    // s-2's send never reached the API, 11 minutes ago (past the send grace); s-3's may still be on its way.
    const longAgo = ctx.clock.now() - 11 * 60_000;
    await store.insertOrder({
      id: 's-2', ref: 's-2', topupId: null, planCode: 'PREPAID_DJEZZY', mssidn: '0778037340', amount: 100, status: 'SENDING', refundMessage: null,
      suggestedOffers: null, createdAt: longAgo, updatedAt: longAgo, apiCreatedAt: null, knownFinalAt: null, nextCheckAt: ctx.clock.now(), checks: 0, lastError: null,
    });
    await store.insertOrder({
      id: 's-3', ref: 's-3', topupId: null, planCode: 'PREPAID_DJEZZY', mssidn: '0778037340', amount: 100, status: 'SENDING', refundMessage: null,
      suggestedOffers: null, createdAt: ctx.clock.now(), updatedAt: ctx.clock.now(), apiCreatedAt: null, knownFinalAt: null, nextCheckAt: ctx.clock.now(), checks: 0, lastError: null,
    });
    await k.pollOnce();
    expect((await store.getOrder('s-1'))).toMatchObject({ status: 'PENDING', topupId: expect.stringMatching(/^[0-9a-f]{24}$/) });
    expect((await store.getOrder('s-2'))?.status).toBe('REJECTED');
    expect((await store.getOrder('s-3'))?.status).toBe('SENDING');
  });

  it('a send answered 500 stays SENDING (the top-up may exist): rejected only after the send grace, and only when check-ref finds nothing', async () => {
    const proxy = new FaultProxy(base);
    const via = await proxy.start();
    try {
      const { store } = await openTestKitStore(dir, ctx.db);
      stores.push(store);
      const k = new SyncKit({ client: new Shahn({ apiKey: ctx.merchant.productionKey, baseUrl: via, maxRetries: 0 }), store, clock: ctx.clock, hooks: recordingHooks() });
      proxy.inject((req) => req.method === 'POST', { kind: 'status', status: 500 });
      await expect(k.send({ orderId: 'e-1', plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 })).rejects.toThrow();
      expect((await store.getOrder('e-1'))?.status).toBe('SENDING');
      await k.pollOnce();
      expect((await store.getOrder('e-1'))?.status).toBe('SENDING');
      ctx.clock.advance(11 * 60_000);
      await k.pollOnce();
      expect((await store.getOrder('e-1'))?.status).toBe('REJECTED');
    } finally {
      await proxy.stop();
    }
  });

  it('the recheck job is scheduled with croner (daily by default)', async () => {
    const k = await kit();
    k.start();
    try {
      const next = k.nextRecheck();
      expect(next).toBeInstanceOf(Date);
      expect(next!.getHours()).toBe(0);
      expect(next!.getMinutes()).toBe(0);
    } finally {
      await k.stop();
    }
    expect(k.nextRecheck()).toBeNull();
  });
});

describe('two kit processes on one store, one of them killed and restarted', () => {
  let server: TestContext;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children) c.kill('SIGKILL');
    await server.close();
  });

  it('every transition reaches its hook exactly once', async () => {
    // Real time for the kits, the contract's sandbox timeline moved on by the sandbox clock.
    server = await makeContext({ balance: 100_000 });
    // The first check 5 s after a send: on a loaded machine the 24 sends below take a few seconds, and
    // the kill must come before any order's first check.
    const schedule = { firstCheckMs: 5_000, intervals: [[Number.MAX_SAFE_INTEGER, 500] as const], sendingCheckMs: 5_000 };
    // The kit processes have their own clocks.
    const { systemClock } = await import('../src/lib/clock.js');
    const { buildDeps } = await import('../src/runtime/build-deps.js');
    const { buildApp } = await import('../src/server/build-app.js');
    const pino = (await import('pino')).default;
    const app = await buildApp(buildDeps(server.config, server.deps.store, { clock: systemClock }), { logger: pino({ level: 'silent' }) });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const dir = tempDir('shahn-kits-');
    const { store, location: storePath } = await openTestKitStore(dir, server.db);
    const hookLog = join(dir, 'hooks.log');
    writeFileSync(hookLog, '');
    const start = (name: string) => {
      const c = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'kit-process.mjs')], {
        env: { ...process.env, KIT_STORE: storePath, KIT_KEY: server.merchant.sandboxKey, KIT_BASE: base, KIT_HOOK_LOG: hookLog, KIT_NAME: name, KIT_SCHEDULE: JSON.stringify(schedule) },
        stdio: 'ignore',
      });
      children.push(c);
      return c;
    };
    const first = start('one');
    start('two');
    // Orders sent by the merchant's web process (this test), recorded in the shared store.
    const client = new Shahn({ apiKey: server.merchant.sandboxKey, baseUrl: base });
    const sender = new SyncKit({ client, store, schedule });
    const numbers = ['0778037340', '0600000001', '0600000002', '0600000003'];
    for (let i = 0; i < 24; i++) await sender.send({ orderId: `p-${i}`, plan_code: 'PREPAID_DJEZZY', MSSIDN: numbers[i % 4]!, amount: 100 });
    // Kill one kit while it polls the open orders (before their first check, so no hook is cut off
    // mid-call: such a hook is left for a person, by design), start it again, and wait for every transition.
    await new Promise((r) => setTimeout(r, 300));
    expect(readFileSync(hookLog, 'utf8')).toBe(''); // no order checked yet
    first.kill('SIGKILL');
    start('one-restarted');
    // Every order final on the sandbox's clock (0600000003 stays UNKNOWN_ERROR for 12 h) before the first check.
    await client.sandbox.advance(16);
    await waitUntil(() => new Set(readFileSync(hookLog, 'utf8').split('\n').filter(Boolean)).size >= 24, 60_000, 'every transition');
    await new Promise((r) => setTimeout(r, 1_500)); // time for a hook to be called twice, if it were
    const lines = readFileSync(hookLog, 'utf8').trim().split('\n').filter(Boolean);
    const counts = new Map<string, number>();
    for (const l of lines) counts.set(l, (counts.get(l) ?? 0) + 1);
    for (const [line, n] of counts) expect(n, line).toBe(1);
    for (let i = 0; i < 24; i++) {
      const n = numbers[i % 4];
      if (n === '0778037340') expect(counts.has(`p-${i} FULFILLED`)).toBe(true);
      else if (n === '0600000003') expect(counts.has(`p-${i} UNKNOWN_ERROR`)).toBe(true);
      else expect(counts.has(`p-${i} REFUNDED`)).toBe(true);
    }
    await store.close();
    await app.close();
  }, 120_000);
});
