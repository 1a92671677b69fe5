/** @shahn/sdk against a real shahn on loopback (in-process with a test clock, and `shahn serve`), with a misbehaving proxy. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AccessTokenDisabledError, APIError, ConnectionError, DEFAULT_BASE_URL, DuplicatedRefError, InsufficientBalanceError, InternalServerError,
  InvalidAccessTokenError, IpBlockedError, IpNotAllowedError, MissingAccessTokenError, NotFoundError, PayloadTooLargeError, PlanDisabledError,
  RateLimitedError, ReadOnlyKeyError, SandboxOnlyError, ServiceUnavailableError, Shahn, ShahnError, TimeoutError, ValidationError, WaitTimeoutError, type Topup,
} from '@shahn/sdk';
import { FaultProxy } from './fault-proxy.js';
import { makeContext, type TestContext, addTestKey } from './helpers.js';

let ctx: TestContext;
let base: string;

async function listen(c: TestContext): Promise<string> {
  return c.app.listen({ port: 0, host: '127.0.0.1' });
}

const addKey = (c: TestContext, opts: { scope?: 'READ-ONLY'; isEnabled?: boolean; allowedIps?: string[] }) => addTestKey(c, { ...opts, type: 'PRODUCTION' });

/** A fetch that moves the server's test clock forward before each request. */
const advancingFetch = (c: TestContext, stepMs: number): typeof fetch => (input, init) => {
  c.clock.advance(stepMs);
  return fetch(input, init);
};

describe('@shahn/sdk', () => {
  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000 });
    base = await listen(ctx);
  });
  afterEach(async () => {
    await ctx.close();
  });

  const sdk = (key: string, extra: Partial<ConstructorParameters<typeof Shahn>[0]> = {}) => new Shahn({ apiKey: key, baseUrl: base, maxRetries: 0, timeoutMs: 5000, ...extra });

  it('every method, typed results', async () => {
    const c = sdk(ctx.merchant.sandboxKey);
    expect((await c.ping()).operators.djezzy).toBe('up');
    expect((await c.validate()).apiKey.type).toBe('SANDBOX');
    expect(await c.account.balance()).toEqual({ balance: 10000, currency: 'DZD' });
    const plans = await c.mobile.plans();
    expect(plans.dynamicPlans.find((p) => p.code === 'PREPAID_DJEZZY')?.cost).toBe(0.9925);
    const sent = await c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500, ref: 'sdk-1' });
    expect(sent).toEqual({ topupId: expect.stringMatching(/^[0-9a-f]{24}$/), topupRef: 'sdk-1', newBalance: 10000 });
    const byId: Topup = await c.mobile.checkId(sent.topupId);
    expect(byId.status).toBe('PENDING');
    expect(byId.refund_message).toBeUndefined();
    expect((await c.mobile.checkRef('sdk-1'))._id).toBe(sent.topupId);
    const page = await c.mobile.list({ pageSize: 5 });
    expect(page.pagination.totalResults).toBe(1);
    const tx = await sdk(ctx.merchant.productionKey).account.transactions();
    expect(tx.items[0]?.type).toBe('DEPOSIT');
  });

  it('the sandbox clock: clock, advance, reset; the late answers seen by advancing alone; SandboxOnlyError for a PRODUCTION key', async () => {
    const c = sdk(ctx.merchant.sandboxKey);
    expect(await c.sandbox.clock()).toEqual({ now: new Date(ctx.clock.now()).toISOString(), offsetSeconds: 0 });
    const lost = await c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000004', amount: 500 });
    await c.sandbox.advance(15);
    expect((await c.mobile.checkId(lost.topupId)).status).toBe('UNKNOWN_ERROR');
    expect(await c.sandbox.advance(3600)).toEqual({ now: new Date(ctx.clock.now() + 3615_000).toISOString(), offsetSeconds: 3615 });
    expect((await c.mobile.checkId(lost.topupId)).status).toBe('FULFILLED');
    expect((await c.sandbox.reset()).offsetSeconds).toBe(0);
    const err = await sdk(ctx.merchant.productionKey).sandbox.advance(5).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxOnlyError);
    expect(err).toMatchObject({ code: 'SANDBOX_ONLY', status: 403 });
    await expect(c.sandbox.advance(0)).rejects.toBeInstanceOf(ValidationError);
  });

  it('list and transactions: await one page, or for-await over every item of every page', async () => {
    const c = sdk(ctx.merchant.sandboxKey);
    for (let i = 0; i < 23; i++) {
      await c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 + i });
      ctx.clock.advance(10);
    }
    const first = await c.mobile.list({ pageSize: 10 });
    expect(first.items).toHaveLength(10);
    expect(first.pagination.totalPages).toBe(3);
    const all: string[] = [];
    for await (const t of c.mobile.list({ pageSize: 10 })) all.push(t._id);
    expect(all).toHaveLength(23);
    expect(new Set(all).size).toBe(23);
    const p = sdk(ctx.merchant.productionKey);
    for (let i = 0; i < 3; i++) await p.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 });
    const entries = [];
    for await (const e of p.account.transactions({ pageSize: 2 })) entries.push(e.type);
    expect(entries).toEqual(['FLEXY', 'FLEXY', 'FLEXY', 'DEPOSIT']);
  });

  it('options: env fallback and the public default host', () => {
    process.env.SHAHN_API_KEY = 'k-from-env';
    process.env.SHAHN_BASE_URL = 'http://127.0.0.1:1';
    try {
      expect(new Shahn().baseUrl).toBe('http://127.0.0.1:1');
      delete process.env.SHAHN_BASE_URL;
      expect(new Shahn().baseUrl).toBe(DEFAULT_BASE_URL);
      expect(DEFAULT_BASE_URL).toBe('https://api.oneclickdz.com');
      delete process.env.SHAHN_API_KEY;
      expect(() => new Shahn()).toThrow(ShahnError);
    } finally {
      delete process.env.SHAHN_API_KEY;
      delete process.env.SHAHN_BASE_URL;
    }
  });

  it('an error class per contract code, with code, status, requestId and details', async () => {
    const c = sdk(ctx.merchant.productionKey);
    const expectError = async <T extends APIError>(p: Promise<unknown>, Cls: new (...a: never[]) => T, code: string, status: number) => {
      const err = await p.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(Cls);
      expect(err).toBeInstanceOf(APIError);
      const e = err as APIError;
      expect([e.code, e.status]).toEqual([code, status]);
      expect(e.requestId).toMatch(/^req_\d+_/);
      return e;
    };
    const v = await expectError(c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '778037340', amount: 500 }), ValidationError, 'ERR_VALIDATION', 400);
    expect(v.details).toMatchObject({ field: 'MSSIDN' });
    await expectError(sdk(' ').validate(), MissingAccessTokenError, 'MISSING_ACCESS_TOKEN', 401);
    const inv = await expectError(sdk('wrong').validate(), InvalidAccessTokenError, 'INVALID_ACCESS_TOKEN', 401);
    expect(inv.details?.attemptsLeft).toBe(4);
    for (let i = 0; i < 4; i++) await sdk('wrong').validate().catch(() => undefined);
    await expectError(sdk('wrong').validate(), IpBlockedError, 'IP_BLOCKED', 403);
    ctx.clock.advance(15 * 60_000);
    await expectError(sdk(await addKey(ctx, { isEnabled: false })).validate(), AccessTokenDisabledError, 'ACCESS_TOKEN_DISABLED', 403);
    await expectError(sdk(await addKey(ctx, { allowedIps: ['192.0.2.1'] })).validate(), IpNotAllowedError, 'IP_NOT_ALLOWED', 403);
    await expectError(sdk(await addKey(ctx, { scope: 'READ-ONLY' })).mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 }), ReadOnlyKeyError, 'READ_ONLY_KEY', 403);
    const ins = await expectError(c.mobile.send({ plan_code: 'GROS_MOBILIS', MSSIDN: '0661234567', amount: 20000 }), InsufficientBalanceError, 'INSUFFICIENT_BALANCE', 403);
    expect(ins.details).toEqual({ required: 20000, available: 10000 });
    await c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref: 'taken' });
    const dup = await expectError(c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref: 'taken' }), DuplicatedRefError, 'DUPLICATED_REF', 403);
    expect(dup.details?.topupId).toMatch(/^[0-9a-f]{24}$/);
    const plans = await ctx.deps.store.catalogue.listPlans();
    await ctx.deps.store.catalogue.upsertCatalogue(await ctx.deps.store.catalogue.listOperators(), plans.map((p) => (p.code === 'PIXX_500' ? { ...p, isEnabled: false } : p)));
    ctx.deps.catalogue.invalidate();
    await expectError(c.mobile.send({ plan_code: 'PIXX_500', MSSIDN: '0661234567' }), PlanDisabledError, 'PLAN_DISABLED', 403);
    await expectError(c.mobile.checkRef('nope'), NotFoundError, 'NOT_FOUND', 404);
    await expectError(c.mobile.send({ plan_code: 'x'.repeat(20_000), MSSIDN: '0778037340', amount: 100 }), PayloadTooLargeError, 'PAYLOAD_TOO_LARGE', 413);
  });

  it('RATE_LIMITED is a RateLimitedError with the Retry-After seconds', async () => {
    const limited = await makeContext({ env: { SHAHN_RATE_LIMIT: '1' } });
    try {
      const url = await listen(limited);
      const c = new Shahn({ apiKey: limited.merchant.sandboxKey, baseUrl: url, maxRetries: 0 });
      await c.ping();
      await c.validate();
      const err = await c.validate().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RateLimitedError);
      expect((err as RateLimitedError).details?.retryAfter).toBe(1);
    } finally {
      await limited.close();
    }
  });

  it('waitForFinal: the guide loop for a normal number and the three test numbers, onStatus on every change', async () => {
    const c = sdk(ctx.merchant.sandboxKey, { fetch: advancingFetch(ctx, 2500) });
    const expectations: [string, string, string | undefined][] = [
      ['0778037340', 'FULFILLED', undefined],
      ['0600000001', 'REFUNDED', 'الرصيد المطلوب غير متوفر لهذا الرقم'],
      ['0600000002', 'REFUNDED', 'هذا رقم الهاتف لا يقبل العرض المرسل، الرجاء إرسال أحد العروض التالية'],
      ['0600000003', 'UNKNOWN_ERROR', 'هذه العملية حالتها غير معروفة، يرجى التأكد مع عميلك، ولن نتحمل أي مسؤولية عن أي خسائر. إذا فشلت العملية بالفعل، فلا تقلق، سيتم استرداد أموالك خلال 24 ساعة'],
    ];
    for (const [MSSIDN, status, message] of expectations) {
      const sent = await c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN, amount: 500 });
      const seen: string[] = [];
      const final = await c.mobile.waitForFinal(sent.topupId, { intervalMs: 1, onStatus: (t) => seen.push(t.status) });
      expect(final.status).toBe(status);
      expect(final.refund_message).toBe(message);
      expect(seen).toEqual(['PENDING', 'HANDLING', status]);
      if (MSSIDN === '0600000002') expect(final.suggested_offers).toEqual([{ typename: '📋 FACTURE | فاتورة', plan_code: 'FACTURE_DJEZZY', amount: 500 }]);
    }
  });

  it('waitForFinal gives up after maxAttempts and can be cancelled', async () => {
    const c = sdk(ctx.merchant.sandboxKey);
    const sent = await c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    const err = await c.mobile.waitForFinal(sent.topupId, { intervalMs: 1, maxAttempts: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as WaitTimeoutError).lastStatus).toBe('PENDING');
    const ac = new AbortController();
    const started = Date.now();
    const p = c.mobile.waitForFinal(sent.topupId, { intervalMs: 10_000, signal: ac.signal, onStatus: () => setTimeout(() => ac.abort(new Error('stop')), 20) });
    await expect(p).rejects.toThrow('stop');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  describe('faults', () => {
    let proxy: FaultProxy;
    let via: string;
    beforeEach(async () => {
      proxy = new FaultProxy(base);
      via = await proxy.start();
    });
    afterEach(async () => {
      await proxy.stop();
    });
    const isGet = (path: string) => (req: { method?: string; url?: string }) => req.method === 'GET' && (req.url ?? '').startsWith(path);
    const isSend = (req: { method?: string; url?: string }) => req.method === 'POST' && req.url === '/v3/mobile/send';

    it('reads are retried after a dropped connection, a 503 and a 429 (honouring Retry-After)', async () => {
      const c = new Shahn({ apiKey: ctx.merchant.sandboxKey, baseUrl: via, maxRetries: 3, timeoutMs: 2000 });
      proxy.inject(isGet('/v3/account/balance'), { kind: 'drop' }, { kind: 'status', status: 503 }, { kind: 'status', status: 429, retryAfter: 1 });
      const started = Date.now();
      expect((await c.account.balance()).balance).toBe(10000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(proxy.seen.filter((s) => s.url === '/v3/account/balance').map((s) => s.fault ?? 'ok')).toEqual(['drop', 'status', 'status', 'ok']);
    });

    it('gives up with the right class when retries run out; 500 is not retried', async () => {
      const c = new Shahn({ apiKey: ctx.merchant.sandboxKey, baseUrl: via, maxRetries: 1, timeoutMs: 2000 });
      proxy.inject(isGet('/v3/ping'), { kind: 'status', status: 503 }, { kind: 'status', status: 503 });
      await expect(c.ping()).rejects.toBeInstanceOf(ServiceUnavailableError);
      proxy.inject(isGet('/v3/ping'), { kind: 'status', status: 500 });
      await expect(c.ping()).rejects.toBeInstanceOf(InternalServerError);
      expect(proxy.seen.filter((s) => s.url === '/v3/ping')).toHaveLength(3);
      proxy.inject(isGet('/v3/ping'), { kind: 'drop' }, { kind: 'drop' });
      const err = await c.ping().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err).not.toBeInstanceOf(TimeoutError);
    });

    it('a slow reply is a TimeoutError; a read is retried and then succeeds', async () => {
      const c = new Shahn({ apiKey: ctx.merchant.sandboxKey, baseUrl: via, maxRetries: 0, timeoutMs: 200 });
      proxy.inject(isGet('/v3/validate'), { kind: 'slow', ms: 1000 });
      await expect(c.validate()).rejects.toBeInstanceOf(TimeoutError);
      const retrying = new Shahn({ apiKey: ctx.merchant.sandboxKey, baseUrl: via, maxRetries: 2, timeoutMs: 200 });
      proxy.inject(isGet('/v3/validate'), { kind: 'slow', ms: 1000 });
      expect((await retrying.validate()).apiKey.type).toBe('SANDBOX');
    });

    it('a connection refused is a ConnectionError', async () => {
      const c = new Shahn({ apiKey: 'k', baseUrl: 'http://127.0.0.1:9', maxRetries: 0 });
      await expect(c.ping()).rejects.toBeInstanceOf(ConnectionError);
    });

    for (const fault of ['lose-reply', 'drop'] as const) {
      it(`a send whose reply is lost (${fault}) creates exactly one top-up: check-ref before trying again`, async () => {
        const c = new Shahn({ apiKey: ctx.merchant.productionKey, baseUrl: via, maxRetries: 2, timeoutMs: 2000 });
        proxy.inject(isSend, { kind: fault });
        const sent = await c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 1000 });
        expect(sent.topupRef).toMatch(/^sdk-/);
        const list = await sdk(ctx.merchant.productionKey).mobile.list();
        expect(list.pagination.totalResults).toBe(1);
        expect(list.items[0]?._id).toBe(sent.topupId);
        expect((await sdk(ctx.merchant.productionKey).account.balance()).balance).toBe(9007.5);
        const calls = proxy.seen.map((s) => `${s.method} ${s.url.split('?')[0]}${s.fault ? ` (${s.fault})` : ''}`);
        expect(calls[0]).toBe(`POST /v3/mobile/send (${fault})`);
        expect(calls[1]).toBe(`GET /v3/mobile/check-ref/${encodeURIComponent(sent.topupRef)}`);
        expect(calls.filter((s) => s.startsWith('POST')).length).toBe(fault === 'drop' ? 2 : 1);
      });
    }

    for (const status of [503, 500, 502] as const) {
      it(`a send the server acted on but answered ${status} creates exactly one top-up: check-ref before anything else`, async () => {
        const c = new Shahn({ apiKey: ctx.merchant.productionKey, baseUrl: via, maxRetries: 2, timeoutMs: 2000 });
        proxy.inject(isSend, { kind: 'act-then-status', status });
        const sent = await c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 1000, ref: `acted-${status}` });
        expect(sent.topupRef).toBe(`acted-${status}`);
        const list = await sdk(ctx.merchant.productionKey).mobile.list();
        expect(list.pagination.totalResults).toBe(1);
        expect(list.items[0]?._id).toBe(sent.topupId);
        expect((await sdk(ctx.merchant.productionKey).account.balance()).balance).toBe(9007.5);
        const calls = proxy.seen.map((s) => `${s.method} ${s.url.split('?')[0]}${s.fault ? ` (${s.fault})` : ''}`);
        expect(calls).toEqual([`POST /v3/mobile/send (act-then-status)`, `GET /v3/mobile/check-ref/acted-${status}`]);
      });
    }

    it('a send answered 503 is retried with the same ref; a 400 is not retried', async () => {
      const c = new Shahn({ apiKey: ctx.merchant.productionKey, baseUrl: via, maxRetries: 2, timeoutMs: 2000 });
      proxy.inject(isSend, { kind: 'status', status: 503, retryAfter: 0 });
      const sent = await c.mobile.send({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref: 'r-503' });
      expect(sent.topupRef).toBe('r-503');
      await expect(c.mobile.send({ plan_code: 'NOPE', MSSIDN: '0778037340', amount: 100 })).rejects.toBeInstanceOf(ValidationError);
      expect(proxy.seen.filter((s) => s.method === 'POST')).toHaveLength(3);
    });
  });
});

