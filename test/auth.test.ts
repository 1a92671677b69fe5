import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashApiKey } from '../src/lib/ids.js';
import { call, expectEnvelope, makeContext, type TestContext, addTestKey } from './helpers.js';

describe('keys: authentication, scope, allow-lists, brute force, rate limit', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await makeContext();
  });
  afterEach(async () => {
    await ctx.close();
  });

  const addKey = (opts: Parameters<typeof addTestKey>[1]) => addTestKey(ctx, opts);

  it('ping needs no key', async () => {
    const r = await call(ctx, 'GET', '/v3/ping');
    expectEnvelope(r);
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ api: 'ok', operators: { mobilis: 'up', djezzy: 'up', ooredoo: 'up', mobilisFixedPlans: 'up' } });
    expect(typeof r.body.meta.timestamp).toBe('string');
  });

  it('ping reports an operator the gateway marks down', async () => {
    ctx.health.set('djezzy', false);
    const r = await call(ctx, 'GET', '/v3/ping');
    expect(r.body.data.operators.djezzy).toBe('down');
    expect(r.body.data.operators.mobilis).toBe('up');
  });

  it('validate echoes the key and its properties', async () => {
    const r = await call(ctx, 'GET', '/v3/validate', { key: ctx.merchant.sandboxKey });
    expectEnvelope(r);
    expect(r.body.data).toEqual({
      username: '+213665983439',
      apiKey: { key: ctx.merchant.sandboxKey, isEnabled: true, type: 'SANDBOX', allowedips: [], scope: 'READ-WRITE' },
    });
    const p = await call(ctx, 'GET', '/v3/validate', { key: ctx.merchant.productionKey });
    expect(p.body.data.apiKey.type).toBe('PRODUCTION');
  });

  it('keys are stored only as hashes', async () => {
    const rows = await ctx.sql.all('SELECT * FROM api_keys');
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(ctx.merchant.sandboxKey);
    expect(dump).not.toContain(ctx.merchant.productionKey);
    expect(dump).toContain(hashApiKey(ctx.merchant.sandboxKey));
  });

  it('MISSING_ACCESS_TOKEN without the header (Authorization is not accepted)', async () => {
    const variants: Record<string, string>[] = [{}, { authorization: ctx.merchant.sandboxKey }, { 'x-access-token': '' }];
    for (const headers of variants) {
      const r = await call(ctx, 'GET', '/v3/account/balance', { headers });
      expectEnvelope(r);
      expect(r.status).toBe(401);
      expect(r.body.error).toEqual({ code: 'MISSING_ACCESS_TOKEN', message: 'Access token is required' });
    }
  });

  it('INVALID_ACCESS_TOKEN counts down, then IP_BLOCKED for 15 minutes, even for a valid key', async () => {
    const ip = '10.0.0.7';
    const left: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await call(ctx, 'GET', '/v3/validate', { key: `wrong-${i}`, ip });
      expectEnvelope(r);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('INVALID_ACCESS_TOKEN');
      expect(r.body.error.message).toBe('The provided access token is invalid');
      left.push(r.body.error.details.attemptsLeft);
    }
    expect(left).toEqual([4, 3, 2, 1, 0]);
    const blocked = await call(ctx, 'GET', '/v3/validate', { key: ctx.merchant.sandboxKey, ip });
    expectEnvelope(blocked);
    expect(blocked.status).toBe(403);
    expect(blocked.body.error.code).toBe('IP_BLOCKED');
    expect(blocked.body.error.message).toBe('Your IP has been temporarily blocked due to too many invalid attempts');
    expect(blocked.body.error.details.retryAfter).toBe(900);
    expect(blocked.headers['retry-after']).toBe('900');

    // Another IP is not affected.
    const other = await call(ctx, 'GET', '/v3/validate', { key: ctx.merchant.sandboxKey, ip: '10.0.0.8' });
    expect(other.status).toBe(200);

    ctx.clock.advance(14 * 60 * 1000);
    expect((await call(ctx, 'GET', '/v3/validate', { key: ctx.merchant.sandboxKey, ip })).body.error.details.retryAfter).toBe(60);
    ctx.clock.advance(60 * 1000);
    expect((await call(ctx, 'GET', '/v3/validate', { key: ctx.merchant.sandboxKey, ip })).status).toBe(200);
  });

  it('failures older than the window do not add up', async () => {
    const ip = '10.0.0.9';
    for (let i = 0; i < 4; i++) await call(ctx, 'GET', '/v3/validate', { key: 'nope', ip });
    ctx.clock.advance(15 * 60 * 1000);
    const r = await call(ctx, 'GET', '/v3/validate', { key: 'nope', ip });
    expect(r.body.error.details.attemptsLeft).toBe(4);
  });

  it('ACCESS_TOKEN_DISABLED for a disabled key', async () => {
    const key = await addKey({ isEnabled: false });
    const r = await call(ctx, 'GET', '/v3/account/balance', { key });
    expectEnvelope(r);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('ACCESS_TOKEN_DISABLED');
  });

  it('IP_NOT_ALLOWED outside the allow-list; allowed inside it (IPv4-mapped too)', async () => {
    const key = await addKey({ allowedIps: ['192.0.2.10'] });
    const denied = await call(ctx, 'GET', '/v3/account/balance', { key, ip: '192.0.2.11' });
    expectEnvelope(denied);
    expect(denied.status).toBe(403);
    expect(denied.body.error).toMatchObject({ code: 'IP_NOT_ALLOWED', details: { ip: '192.0.2.11' } });
    expect((await call(ctx, 'GET', '/v3/account/balance', { key, ip: '192.0.2.10' })).status).toBe(200);
    expect((await call(ctx, 'GET', '/v3/account/balance', { key, ip: '::ffff:192.0.2.10' })).status).toBe(200);
    const v = await call(ctx, 'GET', '/v3/validate', { key, ip: '192.0.2.10' });
    expect(v.body.data.apiKey.allowedips).toEqual(['192.0.2.10']);
  });

  it('READ_ONLY_KEY on send; reads work', async () => {
    const key = await addKey({ scope: 'READ-ONLY' });
    const r = await call(ctx, 'POST', '/v3/mobile/send', { key, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 } });
    expectEnvelope(r);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('READ_ONLY_KEY');
    expect((await call(ctx, 'GET', '/v3/mobile/list', { key })).status).toBe(200);
    expect((await call(ctx, 'GET', '/v3/validate', { key })).body.data.apiKey.scope).toBe('READ-ONLY');
  });

  it('a key disabled in the store stops working once the key cache expires', async () => {
    const key = await addKey({});
    expect((await call(ctx, 'GET', '/v3/account/balance', { key })).status).toBe(200);
    await ctx.sql.run('UPDATE api_keys SET is_enabled = 0 WHERE key_hash = ?', [hashApiKey(key)]);
    ctx.clock.advance(ctx.config.keyCacheMs);
    const r = await call(ctx, 'GET', '/v3/account/balance', { key });
    expect(r.body.error.code).toBe('ACCESS_TOKEN_DISABLED');
  });
});

describe('rate limiting', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await makeContext({ env: { SHAHN_RATE_LIMIT: '5' } });
  });
  afterEach(async () => {
    await ctx.close();
  });

  it('429 RATE_LIMITED with Retry-After past the per-key limit; per key; refills with time', async () => {
    const key = ctx.merchant.sandboxKey;
    for (let i = 0; i < 5; i++) expect((await call(ctx, 'GET', '/v3/mobile/plans', { key })).status).toBe(200);
    const r = await call(ctx, 'GET', '/v3/mobile/plans', { key });
    expectEnvelope(r);
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe('RATE_LIMITED');
    expect(r.body.error.details.retryAfter).toBeGreaterThanOrEqual(1);
    expect(r.headers['retry-after']).toBe(String(r.body.error.details.retryAfter));
    // The other key of the merchant has its own bucket.
    expect((await call(ctx, 'GET', '/v3/mobile/plans', { key: ctx.merchant.productionKey })).status).toBe(200);
    ctx.clock.advance(1000);
    expect((await call(ctx, 'GET', '/v3/mobile/plans', { key })).status).toBe(200);
  });

  it('the documented default applies when SHAHN_RATE_LIMIT is unset', async () => {
    const { loadConfig, DEFAULTS } = await import('../src/config.js');
    expect(loadConfig({}).rateLimit).toBe(DEFAULTS.rateLimit);
    expect(() => loadConfig({ SHAHN_RATE_LIMIT: 'fast' })).toThrow(/SHAHN_RATE_LIMIT must be a whole number/);
  });
});
