/**
 * The modem gateway through fake modems on real pseudo-terminal pairs (socat): the gateway opens the
 * pty path as it would open /dev/ttyUSB0. For every case: the order's final state, the ledger, and
 * how many times the fake modem received the order's top-up code (once, or never when nothing went out).
 * Needs: socat
 * Both stores: the pool's SIM states, alerts, messages and orders go to the test store (SQLite or PostgreSQL).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MESSAGES } from '@shahn/contract';
import type { FakeProfile } from '../src/gateways/modem/fake-modem.js';
import { ModemChannelsView, type ModemPool } from '../src/gateways/modem/modem-pool.js';
import type { OrderProcessor } from '../src/processor/order-processor.js';
import { resolveOrder } from '../src/support/resolve-order.js';
import { call, makeContext, type TestContext } from './helpers.js';
import { fakeSim, makePool, modemSettings, TEST_PIN, type FakeSim } from './modem-helpers.js';
import { makeProcessor, silentLog, waitUntil } from './processor-helpers.js';

describe('the modem gateway over fake modems', () => {
  let ctx: TestContext;
  let sims: FakeSim[];
  let pool: ModemPool | undefined;
  let processor: OrderProcessor | undefined;

  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000 });
    sims = [];
    pool = undefined;
    processor = undefined;
  });
  afterEach(async () => {
    await processor?.stop();
    await pool?.stop();
    for (const s of sims) await s.close();
    await ctx.close();
  });

  const sim = async (name: string, options: Parameters<typeof fakeSim>[2] = {}) => {
    const s = await fakeSim(ctx.dir, name, options);
    sims.push(s);
    return s;
  };
  const start = async (p: ModemPool) => {
    pool = p;
    await p.start();
    processor = makeProcessor(ctx, p, { gatewayTimeoutMs: 30_000, leaseMs: 60_000 });
    await processor.start();
    return p;
  };
  const send = async (MSSIDN: string, amount = 100, plan_code = 'PREPAID_DJEZZY') => {
    const r = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code, MSSIDN, amount } });
    expect(r.status).toBe(200);
    processor?.notify();
    return r.body.data.topupId as string;
  };
  const order = async (id: string) => (await ctx.deps.store.orders.findOrderAnywhere(id))!;
  const finalOf = async (id: string, timeoutMs = 10_000) => {
    await waitUntil(async () => ['FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR'].includes((await order(id)).status), timeoutMs, `order ${id} final`);
    return order(id);
  };
  const balance = async () => (await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey })).body.data.balance as number;
  const alerts = async (topic: string) => ctx.sql.all('SELECT topic, subject, payload FROM outbox WHERE topic = ?', [topic]);

  it('every kind of answer: one dial per order, only a rule-read final answer is definitive, the ledger exact', async () => {
    const cases: [FakeProfile, string, string][] = [
      ['success', '0771000001', 'FULFILLED'],
      ['refusal', '0771000002', 'REFUNDED'],
      ['menu', '0771000003', 'UNKNOWN_ERROR'],
      ['arabic', '0771000004', 'FULFILLED'],
      ['dial-error', '0771000005', 'UNKNOWN_ERROR'],
      ['no-ok', '0771000006', 'FULFILLED'],
      ['blocking', '0771000007', 'FULFILLED'],
      ['silent', '0771000008', 'UNKNOWN_ERROR'],
      ['network-timeout', '0771000009', 'UNKNOWN_ERROR'],
      ['ended', '0771000010', 'UNKNOWN_ERROR'],
      ['garbled', '0771000011', 'UNKNOWN_ERROR'],
      ['advice', '0771000012', 'FULFILLED'],
    ];
    const profiles = new Map(cases.map(([p, n]) => [n, p]));
    const s = await sim('dj-1', { balance: 50_000, profile: (d) => profiles.get(d.msisdn!) ?? 'success' });
    await start(makePool(ctx, modemSettings([s], { maxFailures: 100 })));
    const ids = new Map<string, string>();
    for (const [, n] of cases) ids.set(n, await send(n));
    for (const [profile, n, expected] of cases) {
      const o = await finalOf(ids.get(n)!);
      expect({ profile, status: o.status }).toEqual({ profile, status: expected });
      expect({ profile, dials: s.modem.dialsFor(n) }).toEqual({ profile, dials: 1 });
      expect(o.gatewayChannel).toBe('dj-1');
      expect(o.callStartedAt).not.toBeNull();
      if (expected === 'UNKNOWN_ERROR') expect(o.refundMessage).toBe(MESSAGES.UNKNOWN_NOTICE);
    }
    // The refusal's rule gives the customer's message; the Arabic answer is decoded and kept, with its raw hex.
    expect((await order(ids.get('0771000002')!)).refundMessage).toBe('الرصيد المطلوب غير متوفر لهذا الرقم');
    const arabic = JSON.parse((await order(ids.get('0771000004')!)).gatewayTrace!) as Record<string, unknown>;
    expect(arabic).toMatchObject({ sim: 'dj-1', m: 0, dcs: 72, outcome: 'FULFILLED' });
    expect(arabic.text).toMatch(/^تم تحويل 100 دج إلى 0771000004/);
    expect(arabic.raw).toMatch(/^062A0645/);
    // A menu or an unclear answer leaves no session open: AT+CUSD=2.
    expect(s.modem.cancels).toBeGreaterThanOrEqual(3);
    // The ledger: every order charged 99.25 DA once, the refused one refunded; nothing else moved.
    expect(await balance()).toBe(10_000 - 99.25 * (cases.length - 1));
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
    // UNKNOWN_ERROR orders have their alert for support.
    expect((await alerts('UNKNOWN_ERROR')).length).toBe(cases.filter((c) => c[2] === 'UNKNOWN_ERROR').length);
    // The transfer PIN is in no record of the store.
    for (const [table, cols] of [['orders', 'gateway_trace'], ['audit_log', 'details'], ['outbox', 'payload'], ['gateway_channels', 'status']] as const) {
      expect(await ctx.sql.all(`SELECT ${cols} FROM ${table} WHERE ${cols} LIKE ?`, [`%${TEST_PIN}%`])).toEqual([]);
    }
  });

  it('a success followed by advice about an insufficient balance: rules that disagree make it UNKNOWN, never a refund or a second dial', async () => {
    const s = await sim('dj-1', { profile: 'advice' });
    // The loose patterns: both match the advice text.
    const loose = [{ match: '[Ss]ucc|تم', outcome: 'FULFILLED' }, { match: '[Ss]olde insuffisant', outcome: 'REFUNDED', refundMessage: 'x' }];
    await start(makePool(ctx, modemSettings([s], {}, { rules: loose })));
    const id = await send('0772000001');
    const o = await finalOf(id);
    expect(o.status).toBe('UNKNOWN_ERROR');
    expect(JSON.parse(o.gatewayTrace!).why).toBe('the answer matches rule 0 (FULFILLED) and rule 1 (REFUNDED)');
    expect(s.modem.dialsFor('0772000001')).toBe(1);
    expect(await balance()).toBe(10_000 - 99.25);
  });

  it("an answer broken over lines is read whole; an answer that echoes the code keeps the PIN out of every record; a rule that reads the number or the amount must read the order's", async () => {
    const profiles: Record<string, FakeProfile> = { '0772200001': 'multiline', '0772200002': 'echo', '0772200003': 'other-amount', '0772200004': 'success' };
    const s = await sim('dj-1', { balance: 50_000, profile: (d) => profiles[d.msisdn!] ?? 'success' });
    const rules = [
      { match: 'Succes: vous avez transf.r. (?<amount>[0-9]+) DA au (?<msisdn>0[567][0-9]{8})', outcome: 'FULFILLED' },
      { match: '^Echec', outcome: 'REFUNDED' },
    ];
    const p = await start(makePool(ctx, modemSettings([s], { maxFailures: 100 }, { rules })));
    const ids = new Map<string, string>();
    for (const n of Object.keys(profiles)) ids.set(n, await send(n));
    const trace = async (n: string) => JSON.parse((await order(ids.get(n)!)).gatewayTrace!) as Record<string, string>;
    expect((await finalOf(ids.get('0772200001')!)).status).toBe('FULFILLED');
    expect((await trace('0772200001')).text).toMatch(/^Succes: vous avez transféré 100 DA au 0772200001\.\nNouveau solde: \n[0-9.]+ DA$/);
    expect((await finalOf(ids.get('0772200002')!)).status).toBe('FULFILLED');
    expect((await trace('0772200002')).text).toMatch(/^Demande \*770\*0772200002\*100\*<pin># recue\. Succes/);
    expect(p.snapshot()[0]!.status.lastAnswer).not.toContain(TEST_PIN);
    const other = await finalOf(ids.get('0772200003')!);
    expect(other.status).toBe('UNKNOWN_ERROR');
    expect((await trace('0772200003')).why).toBe("the answer's amount 1000 is not 100");
    expect((await finalOf(ids.get('0772200004')!)).status).toBe('FULFILLED');
    for (const n of Object.keys(profiles)) expect({ n, dials: s.modem.dialsFor(n) }).toEqual({ n, dials: 1 });
    await waitUntil(async () => {
      const status = (await ctx.deps.store.channels.list('pool'))[0]?.status;
      return status?.ordersToday === 4 && status.busy === false;
    }, 3_000, 'published');
    for (const [table, cols] of [['orders', 'gateway_trace'], ['audit_log', 'details'], ['outbox', 'payload'], ['gateway_channels', 'status']] as const) {
      expect(await ctx.sql.all(`SELECT ${cols} FROM ${table} WHERE ${cols} LIKE ?`, [`%${TEST_PIN}%`])).toEqual([]);
    }
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it("an answer that names another number, or a late answer to a session given up on, is never taken for an order's answer", async () => {
    const s = await sim('dj-1', { latencyMs: 700, profile: (d) => (d.msisdn === '0772100001' ? 'other-number' : d.msisdn === '0772100002' ? 'late-answer' : 'success') });
    const p = await start(makePool(ctx, modemSettings([s], { quietAfterUnclearMs: 1_000 }, { ussdTimeoutMs: 1_000 })));
    const other = await send('0772100001');
    const o = await finalOf(other);
    expect(o.status).toBe('UNKNOWN_ERROR');
    expect(JSON.parse(o.gatewayTrace!).why).toBe('the answer names 0699999999, not 0772100001');
    // The late answer (1.4 s) comes after its order gave up (1 s), in the SIM's quiet second, which it
    // extends by another second: the next dial waits for that.
    const late = await send('0772100002');
    const next = await send('0772100003');
    expect((await finalOf(late)).status).toBe('UNKNOWN_ERROR');
    const n = await finalOf(next);
    expect(n.status).toBe('FULFILLED');
    expect(JSON.parse(n.gatewayTrace!).text).toMatch(/au 0772100003\./);
    expect(JSON.parse((await order(late)).gatewayTrace!).why).toBe('no answer within 1000 ms');
    expect([s.modem.dialsFor('0772100002'), s.modem.dialsFor('0772100003')]).toEqual([1, 1]);
    const dials = s.modem.dials.filter((d) => d.msisdn !== '0772100001').map((d) => d.at);
    expect(dials[1]! - dials[0]!).toBeGreaterThanOrEqual(2_300); // the late answer at 1.4 s + 1 s of quiet
    expect(p.snapshot()[0]!.status.state).toBe('ready');
  });

  it('a modem that disappears mid-answer: UNKNOWN_ERROR, the SIM out of rotation with an alert, the operator down, nothing dialled again', async () => {
    const s = await sim('dj-1', { profile: 'vanish' });
    // A long answer timeout: the hang-up, not the timeout, must end the wait.
    const p = await start(makePool(ctx, modemSettings([s], {}, { ussdTimeoutMs: 8_000 })));
    const id = await send('0773000001');
    const o = await finalOf(id);
    expect(o.status).toBe('UNKNOWN_ERROR');
    expect(JSON.parse(o.gatewayTrace!).why).toMatch(/disappeared/);
    expect(s.modem.dialsFor('0773000001')).toBe(1);
    expect(p.isUp({ operator: 'Djezzy', healthKey: 'djezzy', planCode: '' })).toBe(false);
    expect(p.snapshot()[0]!.status).toMatchObject({ state: 'gone' });
    expect((await alerts('SIM_GONE')).map((a) => a.subject)).toEqual(['dj-1']);
    // A new order waits PENDING: no SIM to dial it.
    const next = await send('0773000002');
    await new Promise((r) => setTimeout(r, 500));
    expect((await order(next)).status).toBe('PENDING');
    expect((await order(next)).callStartedAt).toBeNull();
    expect(await balance()).toBe(10_000 - 2 * 99.25);
  });

  it('a SIM that fails its checks before the dial hands the order to another SIM; with no SIM able to dial, the order waits PENDING', async () => {
    const a = await sim('dj-1');
    const b = await sim('dj-2');
    const p = await start(makePool(ctx, modemSettings([a, b])));
    a.modem.simState = 'BUSY'; // +CME ERROR: 14 to AT+CPIN? from now on
    const id = await send('0774000001');
    expect((await finalOf(id)).status).toBe('FULFILLED');
    expect((await order(id)).gatewayChannel).toBe('dj-2');
    expect(a.modem.dials.length).toBe(0);
    expect(b.modem.dialsFor('0774000001')).toBe(1);
    expect(p.snapshot().find((x) => x.channel === 'dj-1')!.status.failures).toBe(1);

    a.modem.simState = 'READY';
    a.modem.registered = false;
    b.modem.registered = false;
    const waiting = await send('0774000002');
    await waitUntil(async () => (await order(waiting)).attempts! >= 1 && (await order(waiting)).status === 'PENDING', 5_000, 'the order back in the queue');
    const w = await order(waiting);
    expect(w.callStartedAt).toBeNull();
    const [row] = await ctx.sql.all('SELECT not_before FROM orders WHERE id = ?', [waiting]);
    expect(Number(row!.not_before)).toBeGreaterThan(ctx.clock.now());
    expect(a.modem.dials.length + b.modem.dials.length).toBe(1);
  });

  it('balances: a SIM that cannot afford the order is skipped, a SIM under its threshold raises an alert, an order no SIM can afford waits', async () => {
    const poor = await sim('dj-1', { balance: 300 });
    const rich = await sim('dj-2', { balance: 5_000 });
    const p = await start(makePool(ctx, modemSettings([poor, rich], {}, { lowBalance: 1_000 })));
    expect(p.snapshot().map((x) => [x.channel, x.status.balance])).toEqual([['dj-1', 300], ['dj-2', 5_000]]);
    await waitUntil(async () => (await alerts('SIM_LOW_BALANCE')).length === 1, 3_000, 'the low-balance alert');
    expect((await alerts('SIM_LOW_BALANCE'))[0]!.subject).toBe('dj-1');
    const id = await send('0775000001', 500);
    expect((await finalOf(id)).status).toBe('FULFILLED');
    expect((await order(id)).gatewayChannel).toBe('dj-2');
    expect(poor.modem.dials.length).toBe(0);
    // The balance read from the answer (no balance group in the rules): 5000 - 500, estimated.
    expect(p.snapshot()[1]!.status).toMatchObject({ balance: 4_500, balanceEstimated: true });
    const tooBig = await send('0775000002', 6_000);
    await waitUntil(async () => (await order(tooBig)).attempts! >= 1 && (await order(tooBig)).status === 'PENDING', 5_000, 'the order back in the queue');
    expect(poor.modem.dials.length + rich.modem.dials.length).toBe(1);
  });

  it('a SIM that orders keep busy still reads its balance: a read a whole interval late goes before the next order', async () => {
    const s = await sim('dj-1', { balance: 50_000, latencyMs: 150 });
    await start(makePool(ctx, modemSettings([s], { balanceEveryMs: 600 })));
    const ids: string[] = [];
    for (let i = 0; i < 14; i++) ids.push(await send(`07781000${String(i).padStart(2, '0')}`));
    for (const id of ids) expect((await finalOf(id, 20_000)).status).toBe('FULFILLED');
    // Between the first top-up and the last, orders were always waiting for the SIM.
    const lines = s.modem.received.filter((l) => l.startsWith('AT+CUSD=1,'));
    const first = lines.findIndex((l) => l.includes('*770*'));
    const last = lines.findLastIndex((l) => l.includes('*770*'));
    const reads = lines.slice(first, last).filter((l) => l.includes('*710#')).length;
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(reads).toBeLessThanOrEqual(4);
    for (const id of ids) expect(s.modem.dialsFor((await order(id)).mssidn)).toBe(1);
  });

  it('a SIM failing orders in a row goes out of rotation with an alert and comes back after its pause; one failing its start-up too', async () => {
    const s = await sim('dj-1', { profile: 'network-timeout' });
    const locked = await sim('dj-2');
    locked.modem.simState = 'PIN_REQUIRED';
    const p = await start(makePool(ctx, modemSettings([s, locked], { maxFailures: 2, retryAfterMs: 1_000 })));
    expect(p.snapshot().find((x) => x.channel === 'dj-2')!.status).toMatchObject({ state: 'out', reason: expect.stringMatching(/SIM PIN/) });
    const ids = [await send('0776000001'), await send('0776000002')];
    for (const id of ids) expect((await finalOf(id)).status).toBe('UNKNOWN_ERROR');
    await waitUntil(() => p.snapshot()[0]!.status.state === 'out', 2_000, 'dj-1 out of rotation');
    expect(p.isUp({ operator: 'Djezzy', healthKey: 'djezzy', planCode: '' })).toBe(false);
    // dj-2 is tried again after its pause and fails again: one alert, not one per try.
    await new Promise((r) => setTimeout(r, 1_500));
    const out = await alerts('SIM_OUT_OF_ROTATION');
    expect(out.map((a) => a.subject).sort()).toEqual(['dj-1', 'dj-2']);
    expect(JSON.parse(String(out.find((a) => a.subject === 'dj-1')!.payload)).reason).toMatch(/2 orders failed in a row/);
    // After the pause: initialised afresh, in rotation again.
    s.modem.simState = 'READY';
    locked.modem.simState = 'READY';
    await waitUntil(() => p.snapshot().every((x) => x.status.state === 'ready'), 5_000, 'both SIMs back');
    expect(p.isUp({ operator: 'Djezzy', healthKey: 'djezzy', planCode: '' })).toBe(true);
    expect(s.modem.dials.length).toBe(2);
  });

  it('a GETMENU plan is refused without a dial (USSD has no menu of offers); so is a plan the gateway has no code for', async () => {
    const s = await sim('dj-1');
    await start(makePool(ctx, modemSettings([s])));
    const id = await send('0777000001', 500, 'GETMENU_Djezzy');
    const o = await finalOf(id);
    expect(o).toMatchObject({ status: 'REFUNDED', refundMessage: MESSAGES.OFFER_NOT_ACCEPTED });
    // The routes are checked at start; a bill reaching SIMs that only have the flexy code is never dialled as flexy.
    const bill = await finalOf(await send('0777000002', 500, 'FACTURE_DJEZZY'));
    expect(bill).toMatchObject({ status: 'REFUNDED', refundMessage: MESSAGES.REFUNDED_AFTER_REVIEW });
    expect(s.modem.dials.length).toBe(0);
    expect(await balance()).toBe(10_000);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it("nothing is dialled when the answer could not come within what is left of the processor's gateway timeout: the order waits PENDING", async () => {
    const s = await sim('dj-1');
    pool = makePool(ctx, modemSettings([s], {}, { ussdTimeoutMs: 3_000 }));
    await pool.start();
    processor = makeProcessor(ctx, pool, { gatewayTimeoutMs: 3_500, leaseMs: 60_000 });
    await processor.start();
    const id = await send('0777100001');
    await waitUntil(async () => (await order(id)).attempts! >= 1 && (await order(id)).status === 'PENDING', 5_000, 'the order back in the queue');
    await new Promise((r) => setTimeout(r, 500));
    expect(await order(id)).toMatchObject({ status: 'PENDING', callStartedAt: null });
    expect(s.modem.dials.length).toBe(0);
  });

  describe('confirmation SMS', () => {
    const sms = { senders: ['7711'], match: 'transfere (?<amount>[0-9]+) DA au (?<msisdn>0[567][0-9]{8})', outcome: 'FULFILLED' };

    it('a confirmation after the answer timed out settles the UNKNOWN_ERROR order as a late answer; the message is kept and deleted from the SIM', async () => {
      const s = await sim('dj-1', { profile: 'late-sms', latencyMs: 1_300 });
      await start(makePool(ctx, modemSettings([s], {}, { ussdTimeoutMs: 1_000, sms })));
      const id = await send('0778000001', 200);
      await waitUntil(async () => (await order(id)).status === 'UNKNOWN_ERROR', 5_000, 'UNKNOWN_ERROR');
      await waitUntil(async () => (await order(id)).status === 'FULFILLED', 5_000, 'the SMS applied');
      const o = await order(id);
      expect(o.refundMessage).toBeNull();
      const lines = o.gatewayTrace!.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toHaveLength(2);
      expect(lines[1]).toMatchObject({ sim: 'dj-1', outcome: 'FULFILLED', sms: { text: expect.stringMatching(/transfere 200 DA au 0778000001/) } });
      const audit = await ctx.sql.all('SELECT action, target FROM audit_log WHERE action IN (?, ?) ORDER BY action', ['order.confirmation-sms', 'sim.message']);
      expect(audit).toEqual([{ action: 'order.confirmation-sms', target: id }, { action: 'sim.message', target: 'dj-1' }]);
      await waitUntil(() => s.modem.storedSms === 0, 3_000, 'the SMS deleted');
      expect(s.modem.dialsFor('0778000001')).toBe(1);
      expect(await balance()).toBe(10_000 - 198.5);
      expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
    });

    it('a confirmation that comes while its call still waits for the answer stays on the SIM until the order is UNKNOWN_ERROR, then settles it; audited once', async () => {
      const s = await sim('dj-1', { profile: 'silent' });
      await start(makePool(ctx, modemSettings([s], {}, { ussdTimeoutMs: 2_500, sms })));
      const id = await send('0779100001', 300);
      await waitUntil(() => s.modem.dialsFor('0779100001') === 1, 5_000, 'dialled');
      s.modem.deliverSms('Vous avez transfere 300 DA au 0779100001.');
      await new Promise((r) => setTimeout(r, 800));
      expect((await order(id)).status).toBe('HANDLING');
      expect(s.modem.storedSms).toBe(1);
      await waitUntil(async () => (await order(id)).status === 'FULFILLED', 8_000, 'the SMS applied after the timeout');
      const lines = (await order(id)).gatewayTrace!.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.why ?? l.outcome)).toEqual(['no answer within 2500 ms', 'FULFILLED']);
      await waitUntil(() => s.modem.storedSms === 0, 3_000, 'the SMS deleted');
      // Read a dozen times while it waited, written to the audit trail once.
      expect(await ctx.sql.all('SELECT target FROM audit_log WHERE action = ?', ['sim.message'])).toEqual([{ target: 'dj-1' }]);
      expect(s.modem.dialsFor('0779100001')).toBe(1);
    });

    it("a message from another sender, or one sent outside the window after the call, confirms nothing", async () => {
      const s = await sim('dj-1', { profile: 'silent' });
      await start(makePool(ctx, modemSettings([s], {}, { ussdTimeoutMs: 1_000, sms: { ...sms, windowMs: 60_000 } })));
      const id = await send('0779200001', 300);
      expect((await finalOf(id)).status).toBe('UNKNOWN_ERROR');
      s.modem.deliverSms('Vous avez transfere 300 DA au 0779200001.', 'PROMO');
      s.modem.deliverSms('Vous avez transfere 300 DA au 0779200001.', '7711', new Date(Date.now() - 2 * 3_600_000));
      await waitUntil(() => s.modem.storedSms === 0, 3_000, 'the messages read');
      await new Promise((r) => setTimeout(r, 300));
      expect((await order(id)).status).toBe('UNKNOWN_ERROR');
      const audit = await ctx.sql.all('SELECT reason, details FROM audit_log WHERE action = ? ORDER BY id', ['sim.message']);
      expect(audit.map((a) => [a.reason, JSON.parse(String(a.details)).confirmation === null])).toEqual([
        ['a message read from the SIM, not from a confirmation sender', true],
        ['a message read from the SIM', false],
      ]);
    });

    it('never against a support decision, never when it could be about two orders (an alert instead); messages waiting at start-up are read', async () => {
      const s = await sim('dj-1', { profile: 'silent' });
      s.modem.deliverSms('Bienvenue chez Djezzy'); // before the pool starts: read at start-up
      await start(makePool(ctx, modemSettings([s], {}, { ussdTimeoutMs: 1_000, sms })));
      await waitUntil(() => s.modem.storedSms === 0, 3_000, 'the waiting message read');
      const [a, b, c] = [await send('0779000001', 300), await send('0779000001', 300), await send('0779000002', 300)];
      for (const id of [a, b, c]) expect((await finalOf(id)).status).toBe('UNKNOWN_ERROR');
      await resolveOrder(ctx.deps, { actor: 'amina', orderId: c, to: 'REFUNDED', reason: 'the customer says nothing came' });

      s.modem.deliverSms('Vous avez transfere 300 DA au 0779000001.');
      s.modem.deliverSms('Vous avez transfere 300 DA au 0779000002.');
      await waitUntil(() => s.modem.storedSms === 0, 3_000, 'the messages read');
      expect((await order(a)).status).toBe('UNKNOWN_ERROR');
      expect((await order(b)).status).toBe('UNKNOWN_ERROR');
      expect((await order(c)).status).toBe('REFUNDED');
      expect((await alerts('CONFIRMATION_AMBIGUOUS')).map((x) => x.subject).sort()).toEqual([a, b].sort());
      const messages = await ctx.sql.all('SELECT target FROM audit_log WHERE action = ?', ['sim.message']);
      expect(messages).toHaveLength(3);
      expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
    });
  });

  it('every process sees the SIMs as their driver publishes them: state, signal, balance, last answer, orders today', async () => {
    const s = await sim('dj-1', { balance: 2_000 });
    const p = await start(makePool(ctx, modemSettings([s])));
    const id = await send('0770000001');
    await finalOf(id);
    // Published after the top-up: a state published during the dial (busy) already counts it.
    await waitUntil(async () => {
      const status = (await ctx.deps.store.channels.list('pool'))[0]?.status;
      return status?.ordersToday === 1 && status.busy === false;
    }, 3_000, 'published');
    const [row] = await ctx.deps.store.channels.list('pool');
    expect(row).toMatchObject({ gateway: 'pool', channel: 'dj-1', operator: 'Djezzy', usable: true, owner: ctx.config.workerId });
    // The answer's GSM 7-bit letters decoded (é came as the byte 0x05).
    expect(row!.status).toMatchObject({ state: 'ready', signal: 21, balance: 1_900, ordersToday: 1, device: s.device, lastAnswer: 'Succes: vous avez transféré 100 DA au 0770000001. Nouveau solde: 1900.00 DA' });
    const view = new ModemChannelsView('pool', () => ctx.deps.store.channels.list('pool'), () => ctx.clock.now(), silentLog);
    await view.start();
    expect(view.isUp({ operator: 'Djezzy', healthKey: 'djezzy', planCode: '' })).toBe(true);
    expect(view.isUp({ operator: 'Mobilis', healthKey: 'mobilis', planCode: '' })).toBe(false);
    await processor!.stop();
    processor = undefined;
    await p.stop();
    pool = undefined;
    await view.stop();
    const view2 = new ModemChannelsView('pool', () => ctx.deps.store.channels.list('pool'), () => ctx.clock.now(), silentLog);
    await view2.start();
    expect(view2.isUp({ operator: 'Djezzy', healthKey: 'djezzy', planCode: '' })).toBe(false);
    await view2.stop();
  });
});
