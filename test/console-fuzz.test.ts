/**
 * Bad input at the console's API: random methods, paths, queries, bodies, content types, cookies and
 * CSRF tokens, as nobody, a merchant and support. Never a 5xx, always the contract's envelope with a
 * registered code and its status; a merchant never receives another merchant's order or key; money
 * invariants hold at the end.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCode } from '@shahn/contract';
import { setConsolePassword } from '../src/server/console/console-auth.js';
import { createMerchant, type CreatedMerchant } from '../src/domain/create-merchant.js';
import { createAdmin } from '../src/support/admins.js';
import { call, expectEnvelope, makeContext, toReply, type TestContext } from './helpers.js';

const PASSWORD = 'fuzzing password 1';

const ROUTES: [string, string][] = [
  ['POST', '/console/api/login'],
  ['POST', '/console/api/logout'],
  ['GET', '/console/api/session'],
  ['GET', '/console/api/merchant/overview'],
  ['GET', '/console/api/merchant/orders'],
  ['GET', '/console/api/merchant/orders/:id'],
  ['GET', '/console/api/merchant/transactions'],
  ['GET', '/console/api/merchant/keys'],
  ['POST', '/console/api/merchant/keys'],
  ['POST', '/console/api/merchant/keys/:id'],
  ['POST', '/console/api/merchant/keys/:id/rotate'],
  ['GET', '/console/api/merchant/plans'],
  ['POST', '/console/api/merchant/try'],
  ['GET', '/console/api/support/queue'],
  ['GET', '/console/api/support/orders/:id'],
  ['POST', '/console/api/support/orders/:id/resolve'],
  ['POST', '/console/api/support/orders/:id/resend'],
  ['GET', '/console/api/support/search'],
  ['GET', '/console/api/support/merchants'],
  ['GET', '/console/api/support/merchants/transactions'],
  ['POST', '/console/api/support/merchants/credit'],
  ['GET', '/console/api/support/keys'],
  ['POST', '/console/api/support/keys/:id'],
  ['POST', '/console/api/support/keys/:id/rotate'],
  ['GET', '/console/api/support/health'],
  ['POST', '/console/api/support/operators/:id'],
  ['GET', '/console/api/support/audit'],
  ['GET', '/console/api/support/stats'],
];

describe('the console API under random input', () => {
  let ctx: TestContext;
  let other: CreatedMerchant;
  let theirOrder: string;
  const sessions: Record<'merchant' | 'admin', { cookie: string; csrf: string }> = { merchant: { cookie: '', csrf: '' }, admin: { cookie: '', csrf: '' } };

  beforeAll(async () => {
    ctx = await makeContext({ balance: 10_000, env: { SHAHN_RATE_LIMIT: '0' } });
    other = await createMerchant(ctx.deps, { username: '+213770000009', balance: 100 });
    await createAdmin(ctx.deps, { name: 'fuzz' });
    await setConsolePassword(ctx.deps, { role: 'merchant', login: ctx.merchant.username, password: PASSWORD });
    await setConsolePassword(ctx.deps, { role: 'admin', login: 'fuzz', password: PASSWORD });
    const sent = await call(ctx, 'POST', '/v3/mobile/send', { key: other.sandboxKey, body: { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 100, ref: 'theirs' } });
    theirOrder = sent.body.data.topupId;
    for (const [role, login] of [['merchant', ctx.merchant.username], ['admin', 'fuzz']] as const) {
      const r = await call(ctx, 'POST', '/console/api/login', { body: { login, password: PASSWORD }, ip: '10.1.1.1' });
      sessions[role] = { cookie: String(r.headers['set-cookie']).split(';')[0]!, csrf: r.body.data.csrfToken };
    }
  });
  afterAll(async () => {
    await ctx?.close();
  });

  const segment = fc.oneof(
    fc.constantFrom('x', '', '..', '%2e%2e', '6b0d00000000000000000000', '__proto__', '%00', 'mobilis', 'djezzy', 'a'.repeat(100)),
    fc.string({ maxLength: 30 }).map((s) => encodeURIComponent(s)),
  );
  const queryValue = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('1', '0', '-1', '101', 'SANDBOX', 'PRODUCTION', 'PENDING', 'UNKNOWN_ERROR', '0778037340', 'theirs', '+213770000009', '9'.repeat(30)));
  const query = fc
    .array(fc.tuple(fc.constantFrom('page', 'pageSize', 'env', 'status', 'mssidn', 'ref', 'q', 'username', 'hours', '__proto__', 'x'), queryValue), { maxLength: 4 })
    .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}` : ''));
  const body = fc.oneof(
    fc.constant(undefined),
    fc.jsonValue({ maxDepth: 3 }),
    fc.record(
      {
        login: fc.oneof(fc.string(), fc.constantFrom('fuzz', '+213665983439')),
        password: fc.oneof(fc.string(), fc.constant(PASSWORD)),
        status: fc.constantFrom('FULFILLED', 'REFUNDED', 'PENDING', 'x'),
        reason: fc.string({ maxLength: 50 }),
        amount: fc.oneof(fc.double(), fc.integer(), fc.string({ maxLength: 10 }), fc.constantFrom('1e309', '0.001', -5, 5)),
        username: fc.constantFrom('+213770000009', '+213665983439', 'nobody', ''),
        type: fc.constantFrom('SANDBOX', 'PRODUCTION', 'ADMIN'),
        isEnabled: fc.oneof(fc.boolean(), fc.string({ maxLength: 5 })),
        allowedips: fc.oneof(fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }), fc.constant(['127.0.0.1']), fc.string()),
        up: fc.boolean(),
        plan_code: fc.constantFrom('PREPAID_DJEZZY', 'NOPE'),
        MSSIDN: fc.constantFrom('0778037340', '0600000003', '12'),
      },
      { requiredKeys: [] },
    ),
    fc.string({ maxLength: 200 }),
  );
  const who = fc.constantFrom<'nobody' | 'merchant' | 'admin' | 'forged'>('nobody', 'merchant', 'admin', 'forged');
  const csrf = fc.constantFrom<'right' | 'none' | 'wrong'>('right', 'right', 'none', 'wrong');
  const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', '');
  const origin = fc.constantFrom<string | undefined>(undefined, undefined, 'http://evil.example', 'null', '::');

  it('never a 5xx, always the envelope, never another merchant\'s data', async () => {
    const answered = { merchant: 0, admin: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: ROUTES.length - 1 }), segment, query, body, who, csrf, contentType, origin, fc.boolean(), async (r, seg, q, b, as, token, ct, org, theirs) => {
        const [method, pattern] = ROUTES[r]!;
        const id = theirs ? theirOrder : seg;
        const url = pattern.replace(':id', id) + q;
        const headers: Record<string, string> = {};
        if (as === 'merchant' || as === 'admin') {
          headers.cookie = sessions[as].cookie;
          if (token === 'right') headers['x-csrf-token'] = sessions[as].csrf;
          if (token === 'wrong') headers['x-csrf-token'] = 'wrong';
        }
        if (as === 'forged') headers.cookie = 'shahn_console=forged-token';
        if (org !== undefined) headers.origin = org;
        const res = await ctx.app.inject({
          method: method as 'GET' | 'POST',
          url,
          headers: { ...headers, ...(b !== undefined && method === 'POST' ? { 'content-type': ct } : {}) },
          ...(b !== undefined && method === 'POST' ? { payload: typeof b === 'string' ? b : JSON.stringify(b) } : {}),
          remoteAddress: '10.2.2.2',
        });
        const reply = toReply(res);
        expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(500);
        expectEnvelope(reply);
        if (reply.body.success === false) {
          const code = reply.body.error.code as ErrorCode;
          expect(Object.hasOwn(ERROR_CODES, code), `${method} ${url}: unknown code ${code}`).toBe(true);
          expect(res.statusCode).toBe(ERROR_CODES[code].status);
        }
        if (reply.body.success && (as === 'merchant' || as === 'admin')) answered[as] += 1;
        if (!reply.body.success) answered.refused += 1;
        if (as === 'merchant' && reply.body.success) {
          const text = JSON.stringify(reply.body.data);
          expect(text, `${method} ${url} leaked another merchant's order`).not.toContain(theirOrder);
          expect(text).not.toContain(other.id);
        }
        // The session may have been logged out by a fuzz case: log in again.
        if (method === 'POST' && pattern === '/console/api/logout' && reply.body.success && (as === 'merchant' || as === 'admin')) {
          const login = as === 'merchant' ? ctx.merchant.username : 'fuzz';
          const again = await call(ctx, 'POST', '/console/api/login', { body: { login, password: PASSWORD }, ip: '10.1.1.1' });
          sessions[as] = { cookie: String(again.headers['set-cookie']).split(';')[0]!, csrf: again.body.data.csrfToken };
        }
      }),
      { numRuns: 400 },
    );
    // The cases reached the pages themselves, not only the guards.
    expect(answered.merchant, JSON.stringify(answered)).toBeGreaterThan(10);
    expect(answered.admin, JSON.stringify(answered)).toBeGreaterThan(10);
    expect(answered.refused, JSON.stringify(answered)).toBeGreaterThan(100);
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  }, 120_000);
});
