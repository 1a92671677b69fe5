/**
 * The console's JSON API (/console/api): logins, session cookies, CSRF, login rate limiting, a
 * merchant confined to its own data (orders, keys, webhook endpoints), support actions and their ledger effects, the sandbox's derived
 * status in filters, and the page's assets. Runs on SQLite and on PostgreSQL.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MESSAGES } from '@shahn/contract';
import { setConsolePassword } from '../src/server/console/console-auth.js';
import { createMerchant, type CreatedMerchant } from '../src/domain/create-merchant.js';
import { presentTopup } from '../src/domain/present.js';
import { createAdmin } from '../src/support/admins.js';
import { call, expectEnvelope, makeContext, type Reply, type TestContext } from './helpers.js';
import { ManualGateway, makeProcessor, sendUncertainOrder } from './processor-helpers.js';

const PASSWORD = 'correct horse battery';
const ORIGIN = 'http://127.0.0.1:3000';

interface Session {
  cookie: string;
  csrf: string;
}

describe('the console API', () => {
  let ctx: TestContext;
  let other: CreatedMerchant;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000, env: { SHAHN_WEBHOOK_ALLOW_PRIVATE: 'true' } });
    other = await createMerchant(ctx.deps, { username: '+213770000001', balance: 500 });
    await createAdmin(ctx.deps, { name: 'amina' });
    await setConsolePassword(ctx.deps, { role: 'merchant', login: ctx.merchant.username, password: PASSWORD });
    await setConsolePassword(ctx.deps, { role: 'merchant', login: other.username, password: PASSWORD });
    await setConsolePassword(ctx.deps, { role: 'admin', login: 'amina', password: PASSWORD });
  });
  afterEach(async () => {
    await ctx.close();
  });

  const login = async (name: string, password = PASSWORD, ip = '10.0.0.1'): Promise<Reply> =>
    call(ctx, 'POST', '/console/api/login', { body: { login: name, password }, headers: { host: '127.0.0.1:3000', origin: ORIGIN }, ip });

  async function session(name: string): Promise<Session> {
    const r = await login(name);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const cookie = String(r.headers['set-cookie']).split(';')[0]!;
    return { cookie, csrf: r.body.data.csrfToken as string };
  }

  const as = (s: Session, method: 'GET' | 'POST', url: string, body?: unknown, extra: Record<string, string> = {}) =>
    call(ctx, method, url, {
      headers: { cookie: s.cookie, host: '127.0.0.1:3000', ...(method === 'POST' ? { 'x-csrf-token': s.csrf, origin: ORIGIN } : {}), ...extra },
      ...(body !== undefined ? { body } : {}),
    });

  const uncertainOrder = () => sendUncertainOrder(ctx, new ManualGateway(), { amount: 500, ref: 'shop-42' });

  it('logs in with the password set by the CLI; the cookie is HttpOnly, SameSite=Strict, Secure, scoped to /console', async () => {
    const bad = await login(ctx.merchant.username, 'wrong password!');
    expectEnvelope(bad);
    expect(bad.status).toBe(401);
    expect(bad.body.error).toMatchObject({ code: 'CONSOLE_UNAUTHORIZED', details: { attemptsLeft: 4 } });
    expect(bad.headers['set-cookie']).toBeUndefined();

    const ok = await login(ctx.merchant.username);
    expectEnvelope(ok);
    expect(ok.status).toBe(200);
    expect(ok.body.data).toMatchObject({ role: 'merchant', login: ctx.merchant.username });
    const cookie = String(ok.headers['set-cookie']);
    expect(cookie).toMatch(/^shahn_console=[A-Za-z0-9_-]{43}; /);
    for (const flag of ['HttpOnly', 'SameSite=Strict', 'Secure', 'Path=/console', 'Max-Age=43200']) expect(cookie).toContain(flag);
    expect(ok.headers['cache-control']).toBe('no-store');

    // Only the token's hash is stored.
    const token = cookie.split(';')[0]!.split('=')[1]!;
    const rows = (await ctx.sql.all('SELECT token_hash FROM console_sessions')) as { token_hash: string }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).not.toContain(token);
    const hashes = (await ctx.sql.all('SELECT password_hash FROM console_logins')) as { password_hash: string }[];
    for (const h of hashes) expect(h.password_hash).toMatch(/^scrypt\$16384\$8\$1\$/);
  });

  it('without a session, with an unknown one, or after expiry: 401 CONSOLE_UNAUTHORIZED', async () => {
    const s = await session(ctx.merchant.username);
    for (const headers of [{}, { cookie: 'shahn_console=forged' }, { cookie: 'other=1' }] as Record<string, string>[]) {
      const r = await call(ctx, 'GET', '/console/api/merchant/orders', { headers });
      expectEnvelope(r);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('CONSOLE_UNAUTHORIZED');
    }
    expect((await as(s, 'GET', '/console/api/session')).status).toBe(200);
    ctx.clock.advance(12 * 3_600_000);
    const expired = await as(s, 'GET', '/console/api/session');
    expect(expired.status).toBe(401);
  });

  it('logout ends the session; a new password ends every session of that login', async () => {
    const a = await session(ctx.merchant.username);
    const b = await session(ctx.merchant.username);
    const out = await as(a, 'POST', '/console/api/logout');
    expect(out.status).toBe(200);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await as(a, 'GET', '/console/api/session')).status).toBe(401);
    expect((await as(b, 'GET', '/console/api/session')).status).toBe(200);
    await setConsolePassword(ctx.deps, { role: 'merchant', login: ctx.merchant.username, password: 'another password 2' });
    expect((await as(b, 'GET', '/console/api/session')).status).toBe(401);
    expect((await login(ctx.merchant.username)).status).toBe(401);
    expect((await login(ctx.merchant.username, 'another password 2')).status).toBe(200);
  });

  it('CSRF: every state-changing request needs the session token and the console origin', async () => {
    const s = await session(ctx.merchant.username);
    const body = { type: 'SANDBOX' };
    const noToken = await call(ctx, 'POST', '/console/api/merchant/keys', { body, headers: { cookie: s.cookie } });
    expectEnvelope(noToken);
    expect(noToken.status).toBe(403);
    expect(noToken.body.error.code).toBe('CSRF_REJECTED');
    const wrong = await as(s, 'POST', '/console/api/merchant/keys', body, { 'x-csrf-token': `${s.csrf.slice(0, -1)}${s.csrf.endsWith('x') ? 'y' : 'x'}` });
    expect(wrong.body.error?.code, JSON.stringify(wrong.body)).toBe('CSRF_REJECTED');
    const otherSession = await session(other.username);
    const swapped = await as(s, 'POST', '/console/api/merchant/keys', body, { 'x-csrf-token': otherSession.csrf });
    expect(swapped.body.error.code).toBe('CSRF_REJECTED');
    const crossSite = await as(s, 'POST', '/console/api/merchant/keys', body, { origin: 'https://evil.example' });
    expect(crossSite.body.error.code).toBe('CSRF_REJECTED');
    const crossLogin = await call(ctx, 'POST', '/console/api/login', { body: { login: ctx.merchant.username, password: PASSWORD }, headers: { host: '127.0.0.1:3000', origin: 'https://evil.example' } });
    expect(crossLogin.body.error.code).toBe('CSRF_REJECTED');
    expect((await ctx.deps.store.accounts.listKeys(ctx.merchant.id)).length).toBe(2);

    const ok = await as(s, 'POST', '/console/api/merchant/keys', body);
    expect(ok.status).toBe(200);
    expect(ok.body.data).toMatchObject({ type: 'SANDBOX', scope: 'READ-WRITE', isEnabled: true });
    expect((await ctx.deps.store.accounts.listKeys(ctx.merchant.id)).length).toBe(3);
  });

  it('login attempts are rate limited per IP: after 5 failures even the right password waits 15 minutes', async () => {
    for (let i = 0; i < 5; i++) expect((await login(ctx.merchant.username, `wrong password ${i}`, '10.9.9.9')).status).toBe(401);
    const blocked = await login(ctx.merchant.username, PASSWORD, '10.9.9.9');
    expectEnvelope(blocked);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('RATE_LIMITED');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(800);
    // Another address is not blocked, and the API's own key check is not affected.
    expect((await login(ctx.merchant.username, PASSWORD, '10.9.9.10')).status).toBe(200);
    expect((await call(ctx, 'GET', '/v3/account/balance', { key: ctx.merchant.productionKey, ip: '10.9.9.9' })).status).toBe(200);
    ctx.clock.advance(15 * 60_000 + 1);
    expect((await login(ctx.merchant.username, PASSWORD, '10.9.9.9')).status).toBe(200);
  });

  it('parallel login guesses from one address get 5 tries, not one each', async () => {
    const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => login(ctx.merchant.username, `parallel guess ${i}`, '10.8.8.8')));
    const codes = guesses.map((r) => r.body.error.code as string);
    expect(codes.filter((c) => c === 'CONSOLE_UNAUTHORIZED')).toHaveLength(5);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(15);
    expect((await login(ctx.merchant.username, PASSWORD, '10.8.8.8')).status).toBe(429);
  });

  it('a disabled support login fails like a wrong password', async () => {
    await ctx.sql.run("UPDATE admins SET is_enabled = 0 WHERE name = 'amina'");
    const r = await login('amina', PASSWORD, '10.7.7.7');
    expect(r.status).toBe(401);
    expect(r.body.error).toMatchObject({ code: 'CONSOLE_UNAUTHORIZED', message: 'Wrong login or password', details: { attemptsLeft: 4 } });
  });

  it('disabling an admin ends its console sessions, refuses its token and its login; enabling restores them', async () => {
    const { setAdminEnabled } = await import('../src/support/admins.js');
    const token = (await createAdmin(ctx.deps, { name: 'leaky' })).token;
    await setConsolePassword(ctx.deps, { role: 'admin', login: 'leaky', password: PASSWORD });
    const s = await session('leaky');
    await setAdminEnabled(ctx.deps, { name: 'leaky', isEnabled: false, actor: 'test', reason: 'token pasted in a chat' });
    expect((await as(s, 'GET', '/console/api/support/queue')).status).toBe(401);
    const api = await call(ctx, 'GET', '/admin/orders/uncertain', { headers: { authorization: `Bearer ${token}` } });
    expect(api.body.error.code).toBe('ADMIN_UNAUTHORIZED');
    expect((await login('leaky', PASSWORD, '10.6.6.6')).status).toBe(401);
    const audit = await ctx.deps.store.audit.listAudit({ offset: 0, limit: 5 });
    expect(audit.items[0]).toMatchObject({ action: 'admin.disable', actor: 'test', reason: 'token pasted in a chat' });
    await setAdminEnabled(ctx.deps, { name: 'leaky', isEnabled: true });
    expect((await login('leaky', PASSWORD, '10.6.6.7')).status).toBe(200);
    expect((await call(ctx, 'GET', '/admin/orders/uncertain', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('a merchant never sees another merchant: orders, keys and transactions are its own; support pages are forbidden', async () => {
    const mine = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.sandboxKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 } });
    const theirs = await call(ctx, 'POST', '/v3/mobile/send', { key: other.sandboxKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 } });
    const theirId = theirs.body.data.topupId as string;
    const s = await session(ctx.merchant.username);

    const list = await as(s, 'GET', '/console/api/merchant/orders?env=SANDBOX');
    expect(list.body.data.items.map((o: { _id: string }) => o._id)).toEqual([mine.body.data.topupId]);
    const peek = await as(s, 'GET', `/console/api/merchant/orders/${theirId}`);
    expectEnvelope(peek);
    expect(peek.status).toBe(404);
    const byRef = await as(s, 'GET', `/console/api/merchant/orders?env=SANDBOX&ref=${encodeURIComponent(theirs.body.data.topupRef)}`);
    expect(byRef.body.data.items).toEqual([]);

    const theirKeys = await ctx.deps.store.accounts.listKeys(other.id);
    for (const k of theirKeys) {
      const dis = await as(s, 'POST', `/console/api/merchant/keys/${k.id}`, { isEnabled: false });
      expect(dis.status).toBe(404);
      const rot = await as(s, 'POST', `/console/api/merchant/keys/${k.id}/rotate`);
      expect(rot.status).toBe(404);
    }
    expect((await ctx.deps.store.accounts.listKeys(other.id)).every((k) => k.isEnabled)).toBe(true);
    const myKeys = await as(s, 'GET', '/console/api/merchant/keys');
    expect(myKeys.body.data.map((k: { id: string }) => k.id).sort()).toEqual((await ctx.deps.store.accounts.listKeys(ctx.merchant.id)).map((k) => k.id).sort());
    const tx = await as(s, 'GET', '/console/api/merchant/transactions');
    expect(tx.body.data.balance).toBe(10_000);
    expect(tx.body.data.items.every((e: { objid: string }) => e.objid !== other.id)).toBe(true);

    for (const url of ['/console/api/support/queue', '/console/api/support/merchants', `/console/api/support/orders/${theirId}`, `/console/api/support/search?q=${theirId}`]) {
      const r = await as(s, 'GET', url);
      expectEnvelope(r);
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('FORBIDDEN');
    }
    const credit = await as(s, 'POST', '/console/api/support/merchants/credit', { username: ctx.merchant.username, amount: 1000, reason: 'me' });
    expect(credit.status).toBe(403);
    expect((await ctx.deps.store.accounts.findMerchantById(ctx.merchant.id))?.balance).toBe(1_000_000);

    const admin = await session('amina');
    expect((await as(admin, 'GET', '/console/api/merchant/orders')).status).toBe(403);
  });

  it("a merchant's webhook endpoints per environment, as on the API; another merchant's are not found, support's login is refused", async () => {
    const s = await session(ctx.merchant.username);
    const made = await as(s, 'POST', '/console/api/merchant/webhooks', { env: 'SANDBOX', url: 'http://127.0.0.1:9/hook', events: ['topup.refunded'], description: 'shop' });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    const ep = made.body.data as { id: string; secret: string };
    expect(ep.secret).toMatch(/^whsec_/);
    expect((await as(s, 'GET', '/console/api/merchant/webhooks?env=SANDBOX')).body.data.items).toEqual([expect.objectContaining({ id: ep.id, events: ['topup.refunded'], description: 'shop' })]);
    expect((await as(s, 'GET', '/console/api/merchant/webhooks')).body.data.items).toEqual([]);
    // The same endpoint the merchant's sandbox key sees on /v3/webhooks; its production key does not.
    expect((await call(ctx, 'GET', '/v3/webhooks', { key: ctx.merchant.sandboxKey })).body.data.items.map((e: { id: string }) => e.id)).toEqual([ep.id]);
    expect((await call(ctx, 'GET', '/v3/webhooks', { key: ctx.merchant.productionKey })).body.data.items).toEqual([]);
    const bad = await as(s, 'POST', '/console/api/merchant/webhooks', { url: 'http://127.0.0.1:9/hook' });
    expectEnvelope(bad);
    expect(bad.body.error.code).toBe('ERR_VALIDATION');
    expect((await as(s, 'POST', '/console/api/merchant/webhooks', { env: 'SANDBOX', url: 'ftp://shop.example/x' })).body.error.code).toBe('ERR_VALIDATION');

    // A test event: a delivery waiting for its first attempt (no dispatcher runs here), with no attempt yet.
    const test = await as(s, 'POST', `/console/api/merchant/webhooks/${ep.id}/test`);
    expect(test.body.data.eventId).toMatch(/^evt_/);
    const deliveries = (await as(s, 'GET', `/console/api/merchant/webhooks/${ep.id}/deliveries`)).body.data;
    expect(deliveries.items).toEqual([expect.objectContaining({ eventId: test.body.data.eventId, type: 'ping', attempts: 0, deliveredAt: null })]);
    const one = await as(s, 'GET', `/console/api/merchant/webhooks/${ep.id}/deliveries/${deliveries.items[0].id}`);
    expect(one.body.data).toMatchObject({ attemptLog: [], body: expect.stringContaining('"type":"ping"') });
    expect((await as(s, 'POST', `/console/api/merchant/webhooks/${ep.id}/enable`)).body.error).toMatchObject({ code: 'ERR_VALIDATION', details: { reason: 'not_disabled' } });
    expect((await as(s, 'POST', `/console/api/merchant/webhooks/${ep.id}/replay`, { from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' })).body.data).toEqual({ replayed: 0 });
    const rotated = await as(s, 'POST', `/console/api/merchant/webhooks/${ep.id}/rotate-secret`);
    expect(rotated.body.data.secret).not.toBe(ep.secret);

    // Another merchant: not found, whatever it tries; nothing changes.
    const them = await session(other.username);
    expect((await as(them, 'GET', '/console/api/merchant/webhooks?env=SANDBOX')).body.data.items).toEqual([]);
    for (const [method, path] of [['POST', 'delete'], ['POST', 'test'], ['POST', 'rotate-secret'], ['POST', 'enable'], ['GET', 'deliveries'], ['GET', `deliveries/${deliveries.items[0].id}`]] as const) {
      const r = await as(them, method, `/console/api/merchant/webhooks/${ep.id}/${path}`);
      expectEnvelope(r);
      expect(r.status, path).toBe(404);
    }
    expect((await as(them, 'POST', `/console/api/merchant/webhooks/${ep.id}/replay`, { from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' })).status).toBe(404);
    expect((await ctx.deps.store.webhooks.getEndpoint(ep.id))!.secret).toBe(rotated.body.data.secret);
    // Without the CSRF token a change is refused; support's login may not use the merchant's pages.
    expect((await as(s, 'POST', `/console/api/merchant/webhooks/${ep.id}/delete`, undefined, { 'x-csrf-token': 'wrong' })).status).toBe(403);
    expect((await as(await session('amina'), 'GET', '/console/api/merchant/webhooks')).status).toBe(403);

    expect((await as(s, 'POST', `/console/api/merchant/webhooks/${ep.id}/delete`)).body.data).toEqual({ deleted: true });
    expect((await call(ctx, 'GET', '/v3/webhooks', { key: ctx.merchant.sandboxKey })).body.data.items).toEqual([]);
  });

  it("the sandbox status filter agrees with the status a reader sees, at every age", async () => {
    let s = await session(ctx.merchant.username);
    const numbers = ['0778037340', '0600000001', '0600000002', '0600000003', '0778037341'];
    for (let i = 0; i < 12; i++) {
      const r = await as(s, 'POST', '/console/api/merchant/try', { plan_code: 'PREPAID_DJEZZY', MSSIDN: numbers[i % numbers.length], amount: 100 });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      ctx.clock.advance(3_000);
    }
    for (const extra of [0, 10_000, 12 * 3_600_000]) {
      ctx.clock.advance(extra);
      s = await session(ctx.merchant.username);
      const all = await ctx.deps.store.orders.listOrders(ctx.merchant.id, 'SANDBOX', { offset: 0, limit: 100 });
      const now = ctx.clock.now();
      const seen = new Set<string>();
      for (const status of ['PENDING', 'HANDLING', 'FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR']) {
        const r = await as(s, 'GET', `/console/api/merchant/orders?env=SANDBOX&status=${status}&pageSize=100`);
        const expected = all.items.filter((o) => presentTopup(o, now, ctx.config.sandbox).status === status).map((o) => o.id).sort();
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body.data.items.map((o: { _id: string }) => o._id).sort(), `${status} at +${extra}`).toEqual(expected);
        expect(r.body.data.items.every((o: { status: string }) => o.status === status)).toBe(true);
        for (const id of expected) seen.add(id);
      }
      expect(seen.size).toBe(12);
    }
    // "Try it" never touches the balance.
    expect((await ctx.deps.store.accounts.findMerchantById(ctx.merchant.id))?.balance).toBe(1_000_000);
  });

  it('support resolves an uncertain order once, with a reason; the merchant sees the refund in balance and transactions', async () => {
    const id = await uncertainOrder();
    const admin = await session('amina');
    const merchant = await session(ctx.merchant.username);
    const before = (await as(merchant, 'GET', '/console/api/merchant/transactions')).body.data;
    expect(before.balance).toBe(9503.75);

    const queue = await as(admin, 'GET', '/console/api/support/queue');
    expect(queue.body.data.items).toHaveLength(1);
    expect(queue.body.data.items[0]).toMatchObject({ _id: id, status: 'UNKNOWN_ERROR', refund_message: MESSAGES.UNKNOWN_NOTICE, merchant: { username: ctx.merchant.username } });

    const noReason = await as(admin, 'POST', `/console/api/support/orders/${id}/resolve`, { status: 'REFUNDED', reason: '' });
    expect(noReason.status).toBe(400);
    const r = await as(admin, 'POST', `/console/api/support/orders/${id}/resolve`, { status: 'REFUNDED', reason: 'Djezzy confirmed it failed' });
    expectEnvelope(r);
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ _id: id, status: 'REFUNDED', balance_amount: 0 });
    const again = await as(admin, 'POST', `/console/api/support/orders/${id}/resolve`, { status: 'FULFILLED', reason: 'second thoughts' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('CONFLICT');

    const after = (await as(merchant, 'GET', '/console/api/merchant/transactions')).body.data;
    expect(after.balance).toBe(10_000);
    expect(after.items[0]).toMatchObject({ type: 'REFUND-FLEXY', operation: 'INCREMENT', amount: 496.25, objid: id });
    const detail = await as(admin, 'GET', `/console/api/support/orders/${id}`);
    expect(detail.body.data.audit[0]).toMatchObject({ actor: 'console:amina', action: 'order.resolve.refunded', reason: 'Djezzy confirmed it failed' });
    expect((await as(admin, 'GET', '/console/api/support/queue')).body.data.items).toHaveLength(0);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it("support sees where an order's call went and what came back, and the SIMs as their driver reported them (a silent report marked stale)", async () => {
    const gw = new ManualGateway();
    const sent = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 } });
    const id = sent.body.data.topupId as string;
    const p = makeProcessor(ctx, gw);
    await p.tick();
    const why = 'the network timed out';
    await gw.answer(id, { kind: 'UNKNOWN', reason: why, trace: { channel: 'dj-1', detail: JSON.stringify({ sim: 'dj-1', m: 5, dcs: null, raw: null, text: '', why }) } });
    await p.drain();
    const admin = await session('amina');
    const detail = (await as(admin, 'GET', `/console/api/support/orders/${id}`)).body.data;
    expect(detail.order).toMatchObject({ _id: id, status: 'UNKNOWN_ERROR' });
    expect(detail.gateway).toEqual({ channel: 'dj-1', callStartedAt: new Date(ctx.clock.now()).toISOString(), answers: [{ sim: 'dj-1', m: 5, dcs: null, raw: null, text: '', why }] });

    const now = ctx.clock.now();
    const status = (state: string) => ({ state, busy: false, signal: 20, balance: 1_000, balanceEstimated: false, lastAnswer: null, lastAnswerAt: null, ordersToday: 3, failures: 0, reason: null, retryAt: null });
    await ctx.deps.store.channels.publish('pool', 'worker-a', now, [{ channel: 'dj-1', operator: 'Djezzy', usable: true, status: status('ready') }], 30_000);
    await ctx.deps.store.channels.publish('pool', 'worker-a', now - 60_000, [{ channel: 'dj-2', operator: 'Djezzy', usable: true, status: status('ready') }], 30_000);
    // A second process that cannot open the ports does not hide the SIM its driver reports usable; a stale report is taken over.
    await ctx.deps.store.channels.publish('pool', 'worker-b', now, [{ channel: 'dj-1', operator: 'Djezzy', usable: false, status: status('gone') }, { channel: 'dj-3', operator: 'Djezzy', usable: false, status: status('gone') }], 30_000);
    const health = (await as(admin, 'GET', '/console/api/support/health')).body.data;
    expect(health.channels.map((c: Record<string, unknown>) => [c.sim, c.owner, c.state, c.usable, c.stale])).toEqual([
      ['dj-1', 'worker-a', 'ready', true, false],
      ['dj-2', 'worker-a', 'ready', false, true],
      ['dj-3', 'worker-b', 'gone', false, false],
    ]);
    expect(health.channels[0]).toMatchObject({ gateway: 'pool', operator: 'Djezzy', signal: 20, balance: 1_000, ordersToday: 3, reportedAt: new Date(now).toISOString() });
    await ctx.deps.store.channels.publish('pool', 'worker-b', now, [{ channel: 'dj-2', operator: 'Djezzy', usable: false, status: status('gone') }], 30_000);
    expect((await ctx.deps.store.channels.list('pool')).find((c) => c.channel === 'dj-2')).toMatchObject({ owner: 'worker-b', usable: false });
  });

  it('support searches by id, ref and MSSIDN across merchants, credits a merchant and disables a key', async () => {
    const id = await uncertainOrder();
    const theirs = await call(ctx, 'POST', '/v3/mobile/send', { key: other.sandboxKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref: 'shop-42' } });
    const admin = await session('amina');
    const ids = async (q: string) => (await as(admin, 'GET', `/console/api/support/search?q=${encodeURIComponent(q)}`)).body.data.items.map((o: { _id: string }) => o._id).sort();
    expect(await ids(id)).toEqual([id]);
    expect(await ids('shop-42')).toEqual([id, theirs.body.data.topupId].sort());
    expect(await ids('0778037340')).toEqual([id, theirs.body.data.topupId].sort());
    expect(await ids('nothing-like-it')).toEqual([]);

    const credit = await as(admin, 'POST', '/console/api/support/merchants/credit', { username: other.username, amount: '250.50', reason: 'cash deposit at the agency' });
    expect(credit.status).toBe(200);
    expect(credit.body.data).toMatchObject({ type: 'DEPOSIT', amount: 250.5, oldBalance: 500, newBalance: 750.5 });
    const merchants = await as(admin, 'GET', '/console/api/support/merchants');
    expect(merchants.body.data.items.find((m: { username: string }) => m.username === other.username).balance).toBe(750.5);
    const bad = await as(admin, 'POST', '/console/api/support/merchants/credit', { username: other.username, amount: -5, reason: 'x' });
    expect(bad.status).toBe(400);
    const blank = await as(admin, 'POST', '/console/api/support/merchants/credit', { username: other.username, amount: 5, reason: '   ' });
    expectEnvelope(blank);
    expect(blank.body.error).toMatchObject({ code: 'ERR_VALIDATION', details: { field: 'reason' } });
    const malformed = await as(admin, 'GET', '/console/api/support/orders/not-an-id');
    expect(malformed.body.error.code).toBe('ERR_VALIDATION');

    const key = (await ctx.deps.store.accounts.listKeys(other.id)).find((k) => k.type === 'SANDBOX')!;
    const dis = await as(admin, 'POST', `/console/api/support/keys/${key.id}`, { isEnabled: false, reason: 'leaked in a screenshot' });
    expect(dis.status).toBe(200);
    const refused = await call(ctx, 'GET', '/v3/account/balance', { key: other.sandboxKey });
    expect(refused.body.error.code).toBe('ACCESS_TOKEN_DISABLED');
    const audit = await as(admin, 'GET', '/console/api/support/audit');
    expect(audit.body.data.items.map((a: { action: string }) => a.action)).toEqual(expect.arrayContaining(['key.disable', 'merchant.credit']));
  });

  it('charts: outcomes per hour and open orders for support, orders per status and balance over time for a merchant', async () => {
    const gw = new ManualGateway();
    await sendUncertainOrder(ctx, gw);
    const fulfilled = await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 } });
    const p = makeProcessor(ctx, gw);
    await p.tick();
    await gw.waitForCall(fulfilled.body.data.topupId);
    ctx.clock.advance(7_000);
    await gw.answer(fulfilled.body.data.topupId, { kind: 'FULFILLED' });
    await p.drain();
    await call(ctx, 'POST', '/v3/mobile/send', { key: ctx.merchant.productionKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100 } }); // stays PENDING

    const admin = await session('amina');
    const stats = (await as(admin, 'GET', '/console/api/support/stats')).body.data;
    const sum = (buckets: { counts: Record<string, number> }[], status: string) => buckets.reduce((n, b) => n + b.counts[status]!, 0);
    expect(stats.outcomesOverTime.buckets).toHaveLength(24);
    expect(sum(stats.outcomesOverTime.buckets, 'FULFILLED')).toBe(1);
    expect(sum(stats.outcomesOverTime.buckets, 'UNKNOWN_ERROR')).toBe(1);
    expect(stats.outcomesOverTime.open).toEqual({ PENDING: 1, HANDLING: 0 });
    expect(stats.timeToFinal.orders).toBe(2);
    expect(stats.timeToFinal.bins.find((b: { label: string }) => b.label === '5–10 s').count).toBe(1);

    const merchant = await session(ctx.merchant.username);
    const ov = (await as(merchant, 'GET', '/console/api/merchant/overview')).body.data;
    expect(ov.merchant.username).toBe(ctx.merchant.username);
    expect(sum(ov.ordersOverTime.buckets, 'PENDING')).toBe(1);
    expect(sum(ov.ordersOverTime.buckets, 'FULFILLED')).toBe(1);
    expect(sum(ov.ordersOverTime.buckets, 'UNKNOWN_ERROR')).toBe(1);
    expect(ov.balanceOverTime.map((x: { balance: number }) => x.balance)).toEqual([10_000, 10_000 - 496.25, 10_000 - 496.25 - 99.25, 10_000 - 496.25 - 99.25 - 99.25]);
    // Another merchant's overview holds none of it.
    const theirs = await session(other.username);
    const ov2 = (await as(theirs, 'GET', '/console/api/merchant/overview')).body.data;
    expect(sum(ov2.ordersOverTime.buckets, 'FULFILLED') + sum(ov2.ordersOverTime.buckets, 'PENDING')).toBe(0);
  });

  it('serves the page with a strict CSP, its modules, and nothing outside its folders', async () => {
    const page = await ctx.app.inject({ method: 'GET', url: '/console' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.body).toContain('/console/js/main.js');
    const js = await ctx.app.inject({ method: 'GET', url: '/console/js/main.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toContain('text/javascript');
    for (const url of ['/console/js/../../package.json', '/console/static/..%2F..%2Fpackage.json', '/console/js/nope.js', '/console/static/index.ts']) {
      const r = await ctx.app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(404);
      expect(r.json().error.code).toBe('NOT_FOUND');
    }
  });
});
