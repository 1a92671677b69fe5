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

  it('200 parallel bad keys from one IP: exactly 5 INVALID_ACCESS_TOKEN, the other 195 IP_BLOCKED', async () => {
    const ip = '10.0.0.77';
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => call(ctx, 'GET', '/v3/validate', { key: `wrong-parallel-${i}`, ip })));
    const codes = replies.map((r) => r.body.error.code as string);
    expect(codes.filter((c) => c === 'INVALID_ACCESS_TOKEN')).toHaveLength(5);
    expect(codes.filter((c) => c === 'IP_BLOCKED')).toHaveLength(195);
    for (const r of replies.filter((x) => x.body.error.code === 'IP_BLOCKED')) {
      expectEnvelope(r);
      expect(r.status).toBe(403);
      expect(r.body.error.details.retryAfter).toBeGreaterThan(0);
    }
    expect((await call(ctx, 'GET', '/v3/validate', { key: ctx.merchant.sandboxKey, ip })).body.error.code).toBe('IP_BLOCKED');
  });

  it('failed-key records past their window are purged periodically; blocked ones stay until the block ends', async () => {
    for (let i = 0; i < 3; i++) await call(ctx, 'GET', '/v3/validate', { key: 'nope', ip: `10.1.0.${i}` });
    for (let i = 0; i < 4; i++) await call(ctx, 'GET', '/v3/validate', { key: 'nope', ip: '10.1.9.9' });
    ctx.clock.advance(5 * 60_000);
    await call(ctx, 'GET', '/v3/validate', { key: 'nope', ip: '10.1.9.9' }); // the 5th: blocked for 15 min from here
    const rows = async () => ((await ctx.sql.all('SELECT ip FROM auth_failures ORDER BY ip')) as { ip: string }[]).map((r) => r.ip);
    expect(await rows()).toEqual(['10.1.0.0', '10.1.0.1', '10.1.0.2', '10.1.9.9']);
    expect(await ctx.deps.bruteForce.purge()).toBe(0);
    ctx.clock.advance(10 * 60_000 - 1);
    expect(await ctx.deps.bruteForce.purge()).toBe(0);
    ctx.clock.advance(1);
    // Every window is over: the unblocked records go; the blocked IP's stays while its block lasts.
    expect(await ctx.deps.bruteForce.purge()).toBe(3);
    expect(await rows()).toEqual(['10.1.9.9']);
    expect((await call(ctx, 'GET', '/v3/validate', { key: ctx.merchant.sandboxKey, ip: '10.1.9.9' })).body.error.code).toBe('IP_BLOCKED');
    ctx.clock.advance(5 * 60_000);
    expect(await ctx.deps.bruteForce.purge()).toBe(1);
    expect(await rows()).toEqual([]);
  });

  it('a warning line for each invalid key and when a block starts, with the client IP and no secret', async () => {
    const logged = await makeContext({ captureLogs: true });
    try {
      for (let i = 0; i < 5; i++) await call(logged, 'GET', '/v3/validate', { key: `secret-guess-${i}`, ip: '10.2.0.1' });
      const warnings = logged.logs.filter((l) => l.level === 40);
      expect(warnings.filter((l) => l.msg === 'invalid access token').map((l) => [l.ip, l.attemptsLeft])).toEqual([
        ['10.2.0.1', 4], ['10.2.0.1', 3], ['10.2.0.1', 2], ['10.2.0.1', 1], ['10.2.0.1', 0],
      ]);
      expect(warnings.filter((l) => String(l.msg).startsWith('IP blocked')).map((l) => l.ip)).toEqual(['10.2.0.1']);
      // Every access line names the client.
      const access = logged.logs.filter((l) => l.msg === 'request completed');
      expect(access).toHaveLength(5);
      for (const l of access) expect(l.ip).toBe('10.2.0.1');
      expect(JSON.stringify(logged.logs)).not.toContain('secret-guess');

      // Console logins: a line per failure and one when the address gets locked out; no login name, no password.
      const { setConsolePassword } = await import('../src/server/console/console-auth.js');
      await setConsolePassword(logged.deps, { role: 'merchant', login: logged.merchant.username, password: 'correct horse battery' });
      for (let i = 0; i < 6; i++) {
        await call(logged, 'POST', '/console/api/login', {
          body: { login: logged.merchant.username, password: `wrong-password-${i}` },
          ip: '10.2.0.2',
          headers: { host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3000' },
        });
      }
      const consoleWarnings = logged.logs.filter((l) => l.level === 40 && String(l.msg).startsWith('console'));
      expect(consoleWarnings.map((l) => [l.msg, l.ip])).toEqual([
        ...Array.from({ length: 5 }, () => ['console login failed', '10.2.0.2']),
        ['console logins blocked for this IP after repeated failures', '10.2.0.2'],
      ]);
      expect(JSON.stringify(logged.logs)).not.toContain('wrong-password');
      expect(JSON.stringify(consoleWarnings)).not.toContain(logged.merchant.username);
    } finally {
      await logged.close();
    }
  });

  it('allow-lists: addresses and CIDR ranges are parsed and normalised; anything else is ERR_VALIDATION and changes nothing', async () => {
    const { createAdmin } = await import('../src/support/admins.js');
    const token = (await createAdmin(ctx.deps, { name: 'keys-admin' })).token;
    const create = (allowedips: unknown) =>
      call(ctx, 'POST', `/admin/merchants/${encodeURIComponent(ctx.merchant.username)}/keys`, { headers: { authorization: `Bearer ${token}` }, body: { type: 'PRODUCTION', allowedips } });
    const before = ((await ctx.sql.all('SELECT COUNT(*) AS n FROM api_keys')) as { n: number | string }[])[0]!.n;
    for (const bad of [['999.999.999.999'], [':::::::'], ['10.0.0.1', 'localhost'], ['10.0.0.0/33'], ['010.0.0.1'], ['fe80::1%eth0'], [''], ['1.2.3.4/']]) {
      const r = await create(bad);
      expectEnvelope(r);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.body.error.code).toBe('ERR_VALIDATION');
      expect(r.body.error.details.field).toMatch(/^allowedips\/\d+$/);
    }
    expect(((await ctx.sql.all('SELECT COUNT(*) AS n FROM api_keys')) as { n: number | string }[])[0]!.n).toEqual(before);

    const ok = await create(['198.51.100.7/24', '2001:DB8:0:0:0:0:0:1', '::ffff:192.0.2.10', '192.0.2.10', ' 203.0.113.5 ']);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.data.allowedips).toEqual(['198.51.100.0/24', '2001:db8::1', '192.0.2.10', '203.0.113.5']);
    const key = ok.body.data.key as string;
    for (const [ip, status] of [['198.51.100.200', 200], ['::ffff:198.51.100.9', 200], ['198.51.101.1', 403], ['2001:db8::1', 200], ['2001:db8::2', 403], ['192.0.2.10', 200]] as const) {
      expect((await call(ctx, 'GET', '/v3/account/balance', { key, ip })).status, ip).toBe(status);
    }
    // PATCH refuses a bad list the same way.
    const res = await ctx.app.inject({ method: 'PATCH', url: `/admin/keys/${ok.body.data.id as string}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify({ allowedips: ['1.2.3'] }) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'ERR_VALIDATION', details: { field: 'allowedips/0' } } });
  });

  it('the admin API takes the Bearer scheme in any case', async () => {
    const { createAdmin } = await import('../src/support/admins.js');
    const token = (await createAdmin(ctx.deps, { name: 'case-admin' })).token;
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      expect((await call(ctx, 'GET', '/admin/orders/uncertain', { headers: { authorization: `${scheme} ${token}` } })).status, scheme).toBe(200);
    }
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
