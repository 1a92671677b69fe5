/**
 * The relay gateway over a real upstream: shahn A (the test's store and processor) relaying to a real
 * `shahn serve` B on loopback, with B's keys. For every case: how A's order ends, A's ledger, and how
 * many orders B holds for it (by ref: exactly one, or none when B refused it).
 * Both stores: A's store is the test store (SQLite or PostgreSQL); B, the upstream, is always a SQLite shahn.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MESSAGES } from '@shahn/contract';
import type { GatewayRouter } from '../src/gateways/gateway-router.js';
import { makeGateways } from '../src/gateways/make-gateways.js';
import { parseGatewaysConfig } from '../src/gateways/gateways-config.js';
import { relayRef, type RelayGateway } from '../src/gateways/relay/relay-gateway.js';
import type { OrderProcessor } from '../src/processor/order-processor.js';
import { relayRuntime } from '../src/runtime/gateways.js';
import { loadConfig } from '../src/config.js';
import { openStore } from '../src/runtime/open-store.js';
import { call, makeContext, QUICK_SANDBOX, tempDir, type TestContext } from './helpers.js';
import { FaultProxy } from './fault-proxy.js';
import { makeProcessor, silentLog, waitUntil } from './processor-helpers.js';
import { runCliAsync, startServe, type ServeProcess } from './serve-process.js';

describe('the relay gateway, shahn A relaying to a real shahn B', () => {
  let b: ServeProcess;
  let bDb: string;
  let poorKey: string;
  let richKey: string;
  let ctx: TestContext;
  let router: GatewayRouter | undefined;
  let processor: OrderProcessor | undefined;

  beforeAll(async () => {
    const dir = tempDir();
    bDb = join(dir, 'b.db');
    // B's sandbox settles in 1 s, and resolves its UNKNOWN_ERROR orders to REFUNDED after 4 s; its
    // production orders are fulfilled by its simulator in 50-150 ms.
    const simulator = join(dir, 'simulator.json');
    writeFileSync(simulator, JSON.stringify({ defaults: { latencyMs: { min: 50, max: 150 }, rates: { fulfilled: 1, wrongNumber: 0, planMismatch: 0, timeout: 0, garbled: 0 } } }));
    b = await startServe({ SHAHN_DB: bDb, SHAHN_DEMO: 'true', SHAHN_RATE_LIMIT: '100000', ...QUICK_SANDBOX, SHAHN_SANDBOX_UNKNOWN_RESOLVE_MS: '4000', SHAHN_SIMULATOR_CONFIG: simulator });
    const merchant = async (username: string, balance: string) => {
      const r = await runCliAsync(['merchant', 'create', '--username', username, '--balance', balance, '--json'], { SHAHN_DB: bDb });
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { productionKey: string }).productionKey;
    };
    poorKey = await merchant('+213555000111', '0');
    richKey = await merchant('+213555000222', '50000');
  }, 60_000);
  afterAll(async () => {
    await b?.stop();
  });

  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000 });
    router = undefined;
    processor = undefined;
  });
  afterEach(async () => {
    await processor?.stop();
    await router?.stop();
    await ctx.close();
  });

  /** A's gateways: everything relayed to B (or to `relay.baseUrl`, a proxy in front of B) with `key`. */
  const relayTo = async (key: string, relay: Record<string, unknown> = {}, gatewayTimeoutMs = 20_000) => {
    const cfg = parseGatewaysConfig(
      { gateways: { upstream: { type: 'relay', baseUrl: b.url, apiKeyEnv: 'UPSTREAM_KEY', allowSandbox: true, pingEveryMs: 200, followEveryMs: 300, firstCheckMs: 200, checkEveryMs: 300, ...relay } }, routes: [{ operator: '*', gateway: 'upstream' }] },
      'test',
      (name) => (name === 'UPSTREAM_KEY' ? key : undefined),
    );
    const [operators, plans] = await Promise.all([ctx.deps.store.catalogue.listOperators(), ctx.deps.store.catalogue.listPlans()]);
    const config = { ...ctx.config, gatewayTimeoutMs };
    const r = makeGateways(cfg, { operators, plans }, { catalogue: () => ctx.deps.catalogue.get(), relay: relayRuntime(config, ctx.deps.store, { drive: true, log: silentLog, clock: ctx.clock }) });
    await r.start();
    router = r;
    return r;
  };
  const run = async (r: GatewayRouter, gatewayTimeoutMs = 20_000) => {
    processor = makeProcessor(ctx, r, { gatewayTimeoutMs, leaseMs: gatewayTimeoutMs + 10_000 });
    await processor.start();
    return processor;
  };
  const send = async (MSSIDN: string, amount = 100, plan_code = 'PREPAID_MOBILIS') => {
    const r = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code, MSSIDN, amount } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    processor?.notify();
    return r.body.data.topupId as string;
  };
  const check = async (id: string) => (await call(ctx, 'GET', `/v3/mobile/check-id/${id}`, { key: ctx.merchant.productionKey })).body.data as Record<string, unknown>;
  const finalOf = async (id: string, timeoutMs = 15_000) => {
    await waitUntil(async () => ['FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR'].includes((await check(id)).status as string), timeoutMs, `order ${id} final`);
    return check(id);
  };
  const balance = async () => (await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey })).body.data.balance as number;
  /** B's ledger audit (its store opened beside the running server). */
  const auditB = async () => {
    const store = openStore(loadConfig({ SHAHN_DB: bDb }));
    try {
      return await store.ledger.checkMoney();
    } finally {
      await store.close();
    }
  };
  /** The orders B holds for A's order (by the derived ref). */
  const inB = (id: string) => {
    const db = new Database(bDb, { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT status, env FROM orders WHERE ref = ?').all(relayRef(id)) as { status: string; env: string }[];
    } finally {
      db.close();
    }
  };

  it("with B's SANDBOX key, A's production orders end exactly as B's sandbox says; an UNKNOWN_ERROR follows B when B settles it", async () => {
    await run(await relayTo(b.sandboxKey!));
    const ids = { refund: await send('0600000001'), suggest: await send('0600000002', 300), unknown: await send('0600000003'), ok: await send('0661234567') };
    expect(await finalOf(ids.refund)).toMatchObject({ status: 'REFUNDED', refund_message: MESSAGES.BALANCE_UNAVAILABLE, balance_amount: 0 });
    const suggest = await finalOf(ids.suggest);
    expect(suggest).toMatchObject({ status: 'REFUNDED', refund_message: MESSAGES.OFFER_NOT_ACCEPTED });
    expect(suggest.suggested_offers).toEqual([{ typename: MESSAGES.FACTURE_TYPENAME, plan_code: 'FACTURE_DJEZZY', amount: 300 }]);
    expect(await finalOf(ids.unknown)).toMatchObject({ status: 'UNKNOWN_ERROR', refund_message: MESSAGES.UNKNOWN_NOTICE });
    expect(await finalOf(ids.ok)).toMatchObject({ status: 'FULFILLED' });
    for (const id of Object.values(ids)) expect(inB(id)).toHaveLength(1);
    expect(inB(ids.ok)[0]).toMatchObject({ env: 'SANDBOX' });
    // Charged: the FULFILLED order and the uncertain one; the refunded ones came back.
    const cost = (await check(ids.ok)).balance_amount as number;
    expect(await balance()).toBe(10_000 - 2 * cost);
    // B resolves its UNKNOWN_ERROR order (REFUNDED after 4 s): A's order follows, as a late answer.
    await waitUntil(async () => (await check(ids.unknown)).status === 'REFUNDED', 15_000, 'the uncertain order settled by B');
    expect(await check(ids.unknown)).toMatchObject({ status: 'REFUNDED', refund_message: MESSAGES.REFUNDED_AFTER_REVIEW });
    expect(await balance()).toBe(10_000 - cost);
    const audit = await ctx.sql.all('SELECT action, target FROM audit_log WHERE action = ?', ['order.upstream-settled']);
    expect(audit).toEqual([{ action: 'order.upstream-settled', target: ids.unknown }]);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
    expect(await auditB()).toEqual([]);
  }, 60_000);

  it('a send repeated after the upstream took the order (a crash, a lost reply) finds that order by its ref: B holds one', async () => {
    const r = await relayTo(b.sandboxKey!);
    const relay = r.gateways.get('upstream') as RelayGateway;
    const id = await send('0661234568');
    const order = (await ctx.deps.store.orders.findOrderAnywhere(id))!;
    const request = { orderId: id, ref: order.ref, createdAt: order.createdAt, planCode: 'PREPAID_MOBILIS', operator: 'Mobilis', healthKey: 'mobilis' as const, mssidn: '0661234568', amount: 100, isMenu: false };
    // The first worker loses its lease after B took the order (as a crash would): nothing recorded here.
    const lost = await relay.send(request, { signal: new AbortController().signal, callStarting: async () => false, remainingMs: () => 10_000 });
    expect(lost).toMatchObject({ kind: 'NOT_SENT' });
    expect(inB(id)).toHaveLength(1);
    // The order is sent again: B refuses the ref (DUPLICATED_REF), the relay follows the first order.
    const again = await relay.send(request, { signal: new AbortController().signal, callStarting: async () => true, remainingMs: () => 10_000 });
    expect(again).toMatchObject({ kind: 'FULFILLED' });
    expect(inB(id)).toHaveLength(1);
    // A status or shape the relay does not know is UNKNOWN, never a refund.
    const t = await relay.client.mobile.checkRef(relayRef(id));
    expect(relay.outcomeOf({ ...t, status: 'CANCELLED' } as unknown as typeof t, t._id)).toMatchObject({ kind: 'UNKNOWN', reason: expect.stringMatching(/has the status "CANCELLED"/) });
    expect(relay.outcomeOf({ ...t, status: undefined } as unknown as typeof t, t._id)).toMatchObject({ kind: 'UNKNOWN' });
  }, 30_000);

  it("B's refusals: a short upstream balance keeps the order PENDING with an alert, then refunds it; a plan B refuses is refunded; nothing reaches B", async () => {
    await run(await relayTo(poorKey, { plans: { PREPAID_OOREDOO: 'NO_SUCH_PLAN' }, shortBalanceWaitMs: 60_000, lowBalance: 100 }));
    // The upstream balance, read at start, is published for the console, and under lowBalance it raises an alert.
    const [channel] = await ctx.deps.store.channels.list('upstream');
    expect(channel).toMatchObject({ channel: 'upstream', operator: '*', usable: true, status: { state: 'ready', balance: 0, baseUrl: b.url } });
    expect((await ctx.sql.all('SELECT subject FROM outbox WHERE topic = ?', ['UPSTREAM_LOW_BALANCE'])).map((a) => a.subject)).toEqual(['upstream']);
    const id = await send('0661234569');
    await waitUntil(async () => (await ctx.deps.store.orders.findOrderAnywhere(id))!.attempts! >= 1 && (await check(id)).status === 'PENDING', 10_000, 'tried and back in the queue');
    expect((await ctx.deps.store.orders.findOrderAnywhere(id))!.callStartedAt).toBeNull();
    await waitUntil(async () => (await ctx.sql.all('SELECT topic FROM outbox WHERE topic = ?', ['UPSTREAM_BALANCE_SHORT'])).length === 1, 5_000, 'the alert');
    // Past the wait: refunded, with the contract's plain refund message.
    ctx.clock.advance(61_000);
    processor!.notify();
    expect(await finalOf(id)).toMatchObject({ status: 'REFUNDED', refund_message: MESSAGES.REFUNDED_AFTER_REVIEW });
    expect(inB(id)).toHaveLength(0);
    const refused = await send('0551234567', 100, 'PREPAID_OOREDOO');
    expect(await finalOf(refused)).toMatchObject({ status: 'REFUNDED', refund_message: MESSAGES.REFUNDED_AFTER_REVIEW });
    expect(inB(refused)).toHaveLength(0);
    expect(await balance()).toBe(10_000);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  }, 40_000);

  it('through a proxy that breaks replies after B acted, answers slowly, or cuts B off: B holds one order per A order, none refunded while B fulfilled it', async () => {
    const proxy = new FaultProxy(b.url);
    const url = await proxy.start();
    try {
      const isSend = (req: { method?: string; url?: string }) => req.method === 'POST' && req.url === '/v3/mobile/send';
      await run(await relayTo(b.sandboxKey!, { baseUrl: url, requestTimeoutMs: 1_000 }));
      // Each send below meets one fault after B acted; the SDK asks B by ref before anything else.
      proxy.inject(isSend, { kind: 'lose-reply' }, { kind: 'act-then-status', status: 500 }, { kind: 'act-then-status', status: 502 }, { kind: 'act-then-status', status: 503 }, { kind: 'slow', ms: 1_500 });
      const faulted: string[] = [];
      for (let i = 0; i < 5; i++) {
        faulted.push(await send(`066123460${i}`));
        await waitUntil(() => proxy.plan.length === 4 - i, 10_000, `fault ${i} used`);
      }
      for (const id of faulted) {
        expect(await finalOf(id)).toMatchObject({ status: 'FULFILLED' });
        expect(inB(id)).toHaveLength(1);
      }
      // After each fault the relay asked B by ref instead of sending again.
      expect(proxy.seen.filter((x) => x.url.startsWith('/v3/mobile/check-ref/shahn.')).length).toBeGreaterThanOrEqual(5);
      expect(proxy.seen.filter((x) => x.method === 'POST').length).toBe(5);
      // B cut off: /v3/ping's operators go down, orders wait PENDING and are not sent.
      const cut = Array.from({ length: 500 }, () => ({ kind: 'drop' as const }));
      proxy.inject(() => true, ...cut);
      await waitUntil(() => !router!.isUp('mobilis'), 10_000, '/v3/ping: mobilis down');
      const waiting = await send('0661234610');
      await waitUntil(async () => (await ctx.deps.store.orders.findOrderAnywhere(waiting))!.attempts! >= 1 && (await check(waiting)).status === 'PENDING', 5_000, 'claimed, and back in the queue');
      expect((await ctx.deps.store.orders.findOrderAnywhere(waiting))!.callStartedAt).toBeNull();
      expect(inB(waiting)).toHaveLength(0);
      // B back: the operator up, the order goes once.
      proxy.plan.length = 0;
      await waitUntil(() => router!.isUp('mobilis'), 10_000, '/v3/ping: mobilis up');
      ctx.clock.advance(60_000);
      processor!.notify();
      expect(await finalOf(waiting)).toMatchObject({ status: 'FULFILLED' });
      expect(inB(waiting)).toHaveLength(1);
      expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
      expect(await auditB()).toEqual([]);
    } finally {
      await proxy.stop();
    }
  }, 60_000);

  it("the key is checked at start: a SANDBOX key without allowSandbox, or a key B refuses, stops the start with a message that holds no key", async () => {
    await expect(relayTo(b.sandboxKey!, { allowSandbox: false })).rejects.toThrow(/the upstream key of gateway upstream is a SANDBOX key: its orders would never reach an operator \(set "allowSandbox": true/);
    const wrong = '00000000-0000-4000-8000-000000000000';
    const err = await relayTo(wrong).catch((e: Error) => e);
    expect(String(err)).toMatch(new RegExp(`the upstream ${b.url.replace(/[.]/g, '\\.')} refused the key of gateway upstream \\(INVALID_ACCESS_TOKEN\\)`));
    expect(String(err)).not.toContain(wrong);
    // Through serve: one line, the process stops.
    const dir = tempDir();
    const file = join(dir, 'gateways.json');
    writeFileSync(file, JSON.stringify({ gateways: { upstream: { type: 'relay', baseUrl: b.url, apiKeyEnv: 'UPSTREAM_KEY' } }, routes: [{ operator: '*', gateway: 'upstream' }] }));
    const r = await runCliAsync(['serve'], { SHAHN_DB: join(dir, 'a.db'), PORT: '0', SHAHN_GATEWAYS: file, UPSTREAM_KEY: b.sandboxKey! });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('the upstream key of gateway upstream is a SANDBOX key');
    expect(r.stderr + r.stdout).not.toContain(b.sandboxKey!);
  }, 40_000);

  it('shahn reconcile finds what differs between A and B: a status and a debit changed in B, an order B lost, an order of ours A never had; the scheduled run raises alerts', async () => {
    ctx.clock.advance(Date.now() - ctx.clock.now()); // A's orders and B's in the same window
    const r = await relayTo(richKey);
    await run(r);
    const ids = [await send('0661234701'), await send('0661234702'), await send('0661234703')];
    for (const id of ids) expect(await finalOf(id)).toMatchObject({ status: 'FULFILLED' });
    const dir = tempDir();
    const file = join(dir, 'gateways.json');
    writeFileSync(file, JSON.stringify({ gateways: { upstream: { type: 'relay', baseUrl: b.url, apiKeyEnv: 'UPSTREAM_KEY' } }, routes: [{ operator: '*', gateway: 'upstream' }] }));
    const env = { SHAHN_DB: ctx.db, SHAHN_GATEWAYS: file, UPSTREAM_KEY: richKey };
    const window = ['--from', new Date(Date.now() - 3_600_000).toISOString(), '--to', new Date(Date.now() + 60_000).toISOString()];
    const clean = await runCliAsync(['reconcile', ...window, '--json'], env);
    expect(clean.status, clean.stderr).toBe(0);
    expect(JSON.parse(clean.stdout)).toMatchObject({ gateway: 'upstream', localOrders: 3, upstreamOrders: 3, chargesCompared: true, mismatches: [] });

    // Planted: B's order for ids[0] turned REFUNDED behind its ledger's back; B's order for ids[1] loses
    // our ref; B takes an order with one of our refs that A never made.
    const db = new Database(bDb);
    db.exec('DROP TRIGGER order_transitions_follow_the_lifecycle; DROP TRIGGER refunded_order_has_its_refund');
    db.prepare('UPDATE orders SET status = ? WHERE ref = ?').run('REFUNDED', relayRef(ids[0]!));
    db.prepare('UPDATE orders SET ref = ? WHERE ref = ?').run('renamed-in-b', relayRef(ids[1]!));
    db.close();
    const stranger = 'ffffffffffffffffffffffff';
    const planted = await fetch(`${b.url}/v3/mobile/send`, { method: 'POST', headers: { 'x-access-token': richKey, 'content-type': 'application/json' }, body: JSON.stringify({ plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234799', amount: 100, ref: relayRef(stranger) }) });
    expect(planted.status).toBe(200);
    const found = await runCliAsync(['reconcile', ...window, '--json'], env);
    expect(found.status).toBe(1);
    const mismatches = (JSON.parse(found.stdout) as { mismatches: { kind: string; orderId: string; local: string | null; upstream: string | null }[] }).mismatches;
    expect(mismatches.map((m) => [m.kind, m.orderId, m.local, m.upstream]).sort()).toEqual(
      [
        ['charge', ids[0], null, 'REFUNDED'],
        ['missing-local', stranger, null, expect.any(String)],
        ['missing-upstream', ids[1], 'FULFILLED', null],
        ['status', ids[0], 'FULFILLED', 'REFUNDED'],
      ].sort(),
    );
    const human = await runCliAsync(['reconcile', ...window], env);
    expect(human.stdout).toMatch(/^upstream: .*: 3 relayed order\(s\) here, 3 of ours upstream, 4 mismatch\(es\)$/m);
    expect(human.stdout).toContain(`is FULFILLED here and REFUNDED upstream`);
    // The scheduled run (over the interval that ended an hour ago) turns each mismatch into an alert.
    ctx.clock.advance(2 * 3_600_000);
    const relay = r.gateways.get('upstream') as RelayGateway;
    expect((await relay.reconcileRecent())?.mismatches).toHaveLength(4);
    expect((await ctx.sql.all('SELECT topic FROM outbox WHERE topic = ?', ['RECONCILE_MISMATCH'])).length).toBe(4);
  }, 60_000);
});
