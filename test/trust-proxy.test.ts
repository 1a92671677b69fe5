/**
 * Who the client is behind a reverse proxy (SHAHN_TRUST_PROXY). The proxy appends the address it
 * saw to X-Forwarded-For; everything to the left of it was written by the client and must never be
 * believed: not for allow-lists, not for the failed-key lockout, not for the console login limit,
 * and not on the check-id hot path. Runs on SQLite and PostgreSQL (the lockouts live in the store).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { setConsolePassword } from '../src/server/console/console-auth.js';
import { addTestKey, call, expectEnvelope, makeContext, type TestContext } from './helpers.js';

const PROXY = '127.0.0.1';

describe('SHAHN_TRUST_PROXY', () => {
  let ctx: TestContext | undefined;
  afterEach(async () => {
    await ctx?.close();
    ctx = undefined;
  });

  it('refuses `true` (it would let a client choose its IP) and unreadable addresses; takes a hop count or a list', () => {
    expect(() => loadConfig({ SHAHN_TRUST_PROXY: 'true' })).toThrow(/SHAHN_TRUST_PROXY=true would let any client choose its own IP/);
    expect(() => loadConfig({ SHAHN_TRUST_PROXY: 'yes' })).toThrow(/number of proxies|SHAHN_TRUST_PROXY=1/);
    expect(() => loadConfig({ SHAHN_TRUST_PROXY: '10.0.0.0/8,not-an-ip' })).toThrow(/"not-an-ip" is not an IP address/);
    expect(loadConfig({ SHAHN_TRUST_PROXY: '1' }).trustProxy).toEqual({ hops: 1 });
    expect(loadConfig({ SHAHN_TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ SHAHN_TRUST_PROXY: ' 127.0.0.1, 10.9.8.7/8 ,loopback' }).trustProxy).toEqual({ addresses: ['127.0.0.1', '10.0.0.0/8', 'loopback'] });
  });

  it('one proxy: the allow-list sees the address the proxy appended, never one the client wrote', async () => {
    ctx = await makeContext({ env: { SHAHN_TRUST_PROXY: '1' } });
    const key = await addTestKey(ctx, { allowedIps: ['198.51.100.10'] });
    // The attacker (203.0.113.7) writes the allowed address first; the proxy appends the real one.
    const spoofed = await call(ctx, 'GET', '/v3/validate', { key, ip: PROXY, headers: { 'x-forwarded-for': '198.51.100.10, 203.0.113.7' } });
    expectEnvelope(spoofed);
    expect(spoofed.status).toBe(403);
    expect(spoofed.body.error).toMatchObject({ code: 'IP_NOT_ALLOWED', details: { ip: '203.0.113.7' } });
    // The allowed client, as its proxy reports it (whatever it wrote before).
    expect((await call(ctx, 'GET', '/v3/validate', { key, ip: PROXY, headers: { 'x-forwarded-for': '198.51.100.10' } })).status).toBe(200);
    expect((await call(ctx, 'GET', '/v3/validate', { key, ip: PROXY, headers: { 'x-forwarded-for': '6.6.6.6, 198.51.100.10' } })).status).toBe(200);
  });

  it('one proxy: rotating the written part does not evade the failed-key lockout, and nobody can get a victim blocked', async () => {
    ctx = await makeContext({ env: { SHAHN_TRUST_PROXY: '1' } });
    const victim = '198.51.100.20';
    const codes: string[] = [];
    for (let i = 0; i < 8; i++) {
      // Each guess claims another origin, and the victim's address first.
      const r = await call(ctx, 'GET', '/v3/validate', { key: `bad-${i}`, ip: PROXY, headers: { 'x-forwarded-for': `${victim}, 192.0.2.${i + 1}, 203.0.113.7` } });
      codes.push(r.body.error.code as string);
    }
    expect(codes).toEqual([...Array(5).fill('INVALID_ACCESS_TOKEN'), ...Array(3).fill('IP_BLOCKED')]);
    // The victim, through the same proxy, is not blocked.
    expect((await call(ctx, 'GET', '/v3/validate', { key: ctx.merchant.sandboxKey, ip: PROXY, headers: { 'x-forwarded-for': victim } })).status).toBe(200);
  });

  it('one proxy: rotating the written part does not evade the console login limit', async () => {
    ctx = await makeContext({ env: { SHAHN_TRUST_PROXY: '1' } });
    await setConsolePassword(ctx.deps, { role: 'merchant', login: ctx.merchant.username, password: 'correct horse battery' });
    const codes: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await call(ctx, 'POST', '/console/api/login', {
        body: { login: ctx.merchant.username, password: `guess-${i}-xxxxxxxx` },
        ip: PROXY,
        headers: { host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3000', 'x-forwarded-for': `10.${i}.0.1, 203.0.113.8` },
      });
      codes.push(r.body.error.code as string);
    }
    expect(codes).toEqual([...Array(5).fill('CONSOLE_UNAUTHORIZED'), ...Array(7).fill('RATE_LIMITED')]);
  });

  it('a list of proxies: the client is the rightmost address that is not a listed proxy', async () => {
    ctx = await makeContext({ env: { SHAHN_TRUST_PROXY: '127.0.0.1,10.0.0.0/8' } });
    const key = await addTestKey(ctx, { allowedIps: ['203.0.113.9'] });
    // Two proxies (10.1.1.1 in front, then 127.0.0.1); the client wrote 198.51.100.10 itself.
    const ok = await call(ctx, 'GET', '/v3/validate', { key, ip: PROXY, headers: { 'x-forwarded-for': '198.51.100.10, 203.0.113.9, 10.1.1.1' } });
    expect(ok.status).toBe(200);
    const denied = await call(ctx, 'GET', '/v3/validate', { key, ip: PROXY, headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.10, 10.1.1.1' } });
    expect(denied.body.error).toMatchObject({ code: 'IP_NOT_ALLOWED', details: { ip: '198.51.100.10' } });
    // A peer that is not a listed proxy is the client, whatever it forwards.
    const direct = await call(ctx, 'GET', '/v3/validate', { key, ip: '192.0.2.50', headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(direct.body.error).toMatchObject({ code: 'IP_NOT_ALLOWED', details: { ip: '192.0.2.50' } });
  });

  it('off: X-Forwarded-For is ignored, and the first request carrying it logs one warning', async () => {
    ctx = await makeContext({ captureLogs: true });
    const key = await addTestKey(ctx, { allowedIps: ['198.51.100.10'] });
    for (let i = 0; i < 3; i++) {
      const r = await call(ctx, 'GET', '/v3/validate', { key, ip: '192.0.2.1', headers: { 'x-forwarded-for': '198.51.100.10' } });
      expect(r.body.error).toMatchObject({ code: 'IP_NOT_ALLOWED', details: { ip: '192.0.2.1' } });
    }
    const base = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    for (let i = 0; i < 3; i++) await fetch(`${base}/v3/ping`, { headers: { 'x-forwarded-for': '198.51.100.10' } });
    const warnings = ctx.logs.filter((l) => String(l.msg).includes('X-Forwarded-For but SHAHN_TRUST_PROXY is off'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.level).toBe(40);
  });

  it('the check-id hot path runs behind a trusted proxy and resolves the client by the same rule', async () => {
    ctx = await makeContext({ env: { SHAHN_TRUST_PROXY: '1' }, captureLogs: true });
    const base = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
    const key = await addTestKey(ctx, { allowedIps: ['198.51.100.10'] });
    const id = '6901616fe9e88196b4eb64b0';
    const get = (xff: string) => fetch(`${base}/v3/mobile/check-id/${id}`, { headers: { 'x-access-token': key, 'x-forwarded-for': xff } });
    // The first request loads the key into the cache (through fastify); the next ones can take the hot path.
    expect((await get('198.51.100.10')).status).toBe(404);
    const before = ctx.app.fastPathAnswered();
    expect((await get('7.7.7.7, 198.51.100.10')).status).toBe(404);
    expect(ctx.app.fastPathAnswered()).toBe(before + 1);
    // Spoofing the allowed address: not served by either path.
    const spoofed = await get('198.51.100.10, 203.0.113.7');
    expect(spoofed.status).toBe(403);
    expect(((await spoofed.json()) as { error: { details: { ip: string } } }).error.details.ip).toBe('203.0.113.7');
    expect(ctx.app.fastPathAnswered()).toBe(before + 1);
    // Access lines carry the client's address, on both paths.
    const lines = ctx.logs.filter((l) => l.msg === 'request completed');
    expect(lines.map((l) => l.ip)).toEqual(['198.51.100.10', '198.51.100.10', '203.0.113.7']);
  });
});
