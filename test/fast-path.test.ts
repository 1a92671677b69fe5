/**
 * The hot paths of check-id and send (src/server/fast-check-id.ts, fast-send.ts) answer the common
 * case without fastify's router: their answers must be the fastify route's, byte for byte (but the
 * requestId, the timestamp and what a send creates), and everything unusual must go to fastify.
 * Both stores: each describe runs on SQLite and PostgreSQL.
 */
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMerchant } from '../src/domain/create-merchant.js';
import { hashApiKey } from '../src/lib/ids.js';
import { addTestKey, makeContext, type TestContext } from './helpers.js';
import { MIRRORED_GLOBAL_HOOKS } from '../src/server/fast-path.js';
import { ORDER_CACHE_OTHERS_MS } from '../src/store/sqlite/open-sqlite-store.js';

describe('check-id hot path', () => {
  let ctx: TestContext;
  let base: string;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000 });
    base = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterEach(async () => {
    await ctx.close();
  });

  const get = async (path: string, key: string) => {
    const res = await fetch(`${base}${path}`, { headers: { 'X-Access-Token': key } });
    const headers = Object.fromEntries([...res.headers.entries()].filter(([k]) => k !== 'date'));
    const text = await res.text();
    return { status: res.status, headers, text, body: JSON.parse(text) as Record<string, unknown> };
  };
  const normalise = (r: Awaited<ReturnType<typeof get>>) => ({
    status: r.status,
    headers: { ...r.headers, 'x-request-id': 'X', 'content-length': 'N' },
    text: r.text.replace(/"requestId":"req_[^"]+"/, '"requestId":"X"').replace(/"timestamp":"[^"]+"/, '"timestamp":"T"'),
  });

  async function send(key: string, MSSIDN: string) {
    const res = await fetch(`${base}/v3/mobile/send`, {
      method: 'POST',
      headers: { 'X-Access-Token': key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN, amount: 500 }),
    });
    return ((await res.json()) as { data: { topupId: string } }).data.topupId;
  }

  it('answers exactly as the fastify route does, for every kind of order and a missing one', async () => {
    const key = ctx.merchant.sandboxKey;
    const ids = [await send(key, '0778037340'), await send(key, '0600000002'), await send(key, '0600000003'), '6901616fe9e88196b4eb64b0'];
    // Each sandbox order read through its timeline (the hot path keeps an order's JSON with the status
    // it showed: it must make it again when the status moves on).
    const seen: string[] = [];
    for (const step of [0, 6_000, 9_000, 12 * 3600_000]) {
      ctx.clock.advance(step);
      for (const id of ids.slice(0, 3)) {
        const slow = await get(`/v3/mobile/check-id/${id}?via=fastify`, key);
        const fast = await get(`/v3/mobile/check-id/${id}`, key);
        expect(normalise(fast)).toEqual(normalise(slow));
        seen.push((fast.body.data as { status: string }).status);
      }
    }
    expect(seen).toEqual(['PENDING', 'PENDING', 'PENDING', 'HANDLING', 'HANDLING', 'HANDLING', 'FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR', 'FULFILLED', 'REFUNDED', 'REFUNDED']);
    for (const id of ids) {
      // The fastify route: a query string makes the hot path step aside.
      const slow = await get(`/v3/mobile/check-id/${id}?via=fastify`, key);
      const before = ctx.app.fastPathAnswered();
      const fast = await get(`/v3/mobile/check-id/${id}`, key);
      expect(ctx.app.fastPathAnswered()).toBe(before + 1);
      expect(normalise(fast)).toEqual(normalise(slow));
      expect(fast.headers['x-request-id']).toBe(fast.body.requestId);
      expect(fast.headers['content-length']).toBe(String(Buffer.byteLength(fast.text)));
    }
    const prod = await send(ctx.merchant.productionKey, '0778037340');
    const slow = await get(`/v3/mobile/check-id/${prod}?x=1`, ctx.merchant.productionKey);
    const fast = await get(`/v3/mobile/check-id/${prod}`, ctx.merchant.productionKey);
    expect(normalise(fast)).toEqual(normalise(slow));
    // Another environment's order is a 404 on both paths.
    expect((await get(`/v3/mobile/check-id/${prod}`, key)).status).toBe(404);
  });

  it('answers FULFILLED production orders from its cache exactly as the fastify route does; other statuses are read every time', async () => {
    const key = ctx.merchant.productionKey;
    const [done, unsure] = [await send(key, '0778037340'), await send(key, '0778037341')];
    for (const id of [done, unsure]) {
      await ctx.sql.run(`UPDATE orders SET status = 'HANDLING' WHERE id = ?`, [id]);
      await ctx.sql.run(`UPDATE orders SET status = ? WHERE id = ?`, [id === done ? 'FULFILLED' : 'UNKNOWN_ERROR', id]);
    }
    const slow = await get(`/v3/mobile/check-id/${done}?via=fastify`, key);
    const first = await get(`/v3/mobile/check-id/${done}`, key); // read from the store, then cached
    const again = await get(`/v3/mobile/check-id/${done}`, key); // from the cache
    expect(normalise(first)).toEqual(normalise(slow));
    expect(normalise(again)).toEqual(normalise(slow));
    expect(again.body.requestId).not.toBe(first.body.requestId);
    expect(again.headers['content-length']).toBe(String(Buffer.byteLength(again.text)));
    // Not another merchant's, nor the sandbox key's, to read.
    const other = await createMerchant(ctx.deps, { username: '+213665000001', balance: 0 });
    for (const k of [other.productionKey, ctx.merchant.sandboxKey]) {
      await get(`/v3/mobile/check-id/${done}?warm=key-cache`, k);
      expect((await get(`/v3/mobile/check-id/${done}`, k)).status).toBe(404);
    }
    // UNKNOWN_ERROR is not final: a resolution shows at once.
    expect(((await get(`/v3/mobile/check-id/${unsure}`, key)).body.data as { status: string }).status).toBe('UNKNOWN_ERROR');
    await ctx.sql.run(`UPDATE orders SET status = 'FULFILLED', refund_message = NULL WHERE id = ?`, [unsure]);
    // Another connection's commit is seen within ORDER_CACHE_OTHERS_MS (the cache looks at most that often).
    await new Promise((r) => setTimeout(r, ORDER_CACHE_OTHERS_MS + 2));
    const resolved = await get(`/v3/mobile/check-id/${unsure}`, key);
    expect((resolved.body.data as { status: string }).status).toBe('FULFILLED');
    expect(normalise(resolved)).toEqual(normalise(await get(`/v3/mobile/check-id/${unsure}?via=fastify`, key)));
  });

  it("makes an open order's kept answer again when the order changes, even where its status does not", async () => {
    const key = ctx.merchant.productionKey;
    const [open, other] = [await send(key, '0778037340'), await send(key, '0778037341')];
    const first = await get(`/v3/mobile/check-id/${open}`, key);
    expect((first.body.data as { status: string }).status).toBe('PENDING');
    expect(first.body.data).not.toHaveProperty('follow_orderid');
    expect(normalise(await get(`/v3/mobile/check-id/${open}`, key))).toEqual(normalise(first)); // the kept answer
    await ctx.sql.run(`UPDATE orders SET follow_orderid = ? WHERE id = ?`, [other, open]);
    await new Promise((r) => setTimeout(r, ORDER_CACHE_OTHERS_MS + 2));
    const changed = await get(`/v3/mobile/check-id/${open}`, key);
    expect((changed.body.data as { status: string; follow_orderid?: string }).follow_orderid).toBe(other);
    expect(normalise(changed)).toEqual(normalise(await get(`/v3/mobile/check-id/${open}?via=fastify`, key)));
  });

  it('mirrors every global per-request hook of the app: a new one fails here until the hot path does it too', async () => {
    const hooksSymbol = Object.getOwnPropertySymbols(ctx.app).find((s) => s.description === 'fastify.hooks');
    expect(hooksSymbol).toBeDefined();
    const hooks = (ctx.app as unknown as Record<symbol, Record<string, unknown[]>>)[hooksSymbol!]!;
    const perRequest = ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'preSerialization', 'onSend', 'onResponse', 'onError', 'onTimeout', 'onRequestAbort'];
    const present = Object.fromEntries(perRequest.filter((h) => (hooks[h]?.length ?? 0) > 0).map((h) => [h, hooks[h]!.length]));
    expect(present, 'a global hook the hot paths (src/server/fast-path.ts) do not mirror').toEqual(MIRRORED_GLOBAL_HOOKS);
    // And the same headers on both paths, for a hit and a miss (values compared in the tests above).
    const key = ctx.merchant.sandboxKey;
    await get('/v3/mobile/check-id/6901616fe9e88196b4eb64b0?warm=1', key);
    const slow = await get('/v3/mobile/check-id/6901616fe9e88196b4eb64b0?via=fastify', key);
    const fast = await get('/v3/mobile/check-id/6901616fe9e88196b4eb64b0', key);
    expect(Object.keys(fast.headers).sort()).toEqual(Object.keys(slow.headers).sort());
  });

  it('SHAHN_FAST_PATH=false: every request goes through fastify', async () => {
    const off = await makeContext({ env: { SHAHN_FAST_PATH: 'false' } });
    try {
      const url = await off.app.listen({ port: 0, host: '127.0.0.1' });
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${url}/v3/mobile/check-id/6901616fe9e88196b4eb64b0`, { headers: { 'X-Access-Token': off.merchant.sandboxKey } });
        expect(r.status).toBe(404);
        const s = await fetch(`${url}/v3/mobile/send`, {
          method: 'POST',
          headers: { 'X-Access-Token': off.merchant.sandboxKey, 'Content-Type': 'application/json' },
          body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 }),
        });
        expect(s.status).toBe(200);
      }
      expect(off.app.fastPathAnswered()).toBe(0);
    } finally {
      await off.close();
    }
  });

  it('keeps connections alive as fastify does (72 s, not the node default of 5 s)', async () => {
    const res = await fetch(`${base}/v3/ping`);
    expect(res.headers.get('keep-alive')).toBe('timeout=72');
    expect(ctx.app.server.keepAliveTimeout).toBe(72_000);
  });

  it('steps aside for an uncached key, a key header sent twice, a disabled key, a blocked IP, a rate-limited key and a malformed id', async () => {
    const key = ctx.merchant.sandboxKey;
    const id = await send(key, '0778037340');
    const n0 = ctx.app.fastPathAnswered();
    expect((await get(`/v3/mobile/check-id/${id}`, 'not-a-key')).status).toBe(401);
    expect((await get('/v3/mobile/check-id/XYZ', key)).status).toBe(400);
    expect(ctx.app.fastPathAnswered()).toBe(n0);
    // The key header read from the raw headers: any case of its name is the hot path's; the header twice
    // is fastify's (node joins the two values, which is no key).
    const raw = (headers: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(base).port), '127.0.0.1', () => socket.end(`GET /v3/mobile/check-id/${id} HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`));
        let got = '';
        socket.on('data', (d) => (got += String(d)));
        socket.on('end', () => resolve(got));
        socket.on('error', reject);
      });
    expect(await raw(`x-ACCESS-Token: ${key}\r\n`)).toMatch(/^HTTP\/1\.1 200 /);
    expect(ctx.app.fastPathAnswered()).toBe(n0 + 1);
    expect(await raw(`X-Access-Token: ${key}\r\nx-access-token: ${key}\r\n`)).toMatch(/^HTTP\/1\.1 401 /);
    expect(ctx.app.fastPathAnswered()).toBe(n0 + 1);
    // Disable the key in the store and in this process's cache: the next answer is fastify's 403.
    await ctx.sql.run('UPDATE api_keys SET is_enabled = 0 WHERE key_hash = ?', [hashApiKey(key)]);
    ctx.deps.keys.invalidate(hashApiKey(key));
    const r = await get(`/v3/mobile/check-id/${id}`, key);
    expect(r.status).toBe(403);
    expect((r.body.error as { code: string }).code).toBe('ACCESS_TOKEN_DISABLED');
    expect(ctx.app.fastPathAnswered()).toBe(n0 + 1);
  });

  it('rate limits identically: the hot path counts its requests, the limit answers 429 through fastify', async () => {
    const limited = await makeContext({ env: { SHAHN_RATE_LIMIT: '3' } });
    try {
      const url = await limited.app.listen({ port: 0, host: '127.0.0.1' });
      const key = limited.merchant.sandboxKey;
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await fetch(`${url}/v3/mobile/check-id/6901616fe9e88196b4eb64b0`, { headers: { 'X-Access-Token': key } })).status);
      expect(statuses).toEqual([404, 404, 404, 429, 429]);
      expect(limited.app.fastPathAnswered()).toBe(2); // the first went through fastify (cold key cache)
    } finally {
      await limited.close();
    }
  });
});

describe('send hot path', () => {
  let ctx: TestContext;
  let base: string;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000, captureLogs: true });
    base = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterEach(async () => {
    await ctx.close();
  });

  const post = async (path: string, key: string, body: string, contentType = 'application/json') => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'X-Access-Token': key, 'Content-Type': contentType }, body });
    const headers = Object.fromEntries([...res.headers.entries()].filter(([k]) => k !== 'date'));
    const text = await res.text();
    return { status: res.status, headers, text, body: JSON.parse(text) as { data?: Record<string, unknown>; error?: { code: string; details?: Record<string, unknown> } } };
  };
  type Answer = Awaited<ReturnType<typeof post>>;
  const normalise = (r: Answer) => ({
    status: r.status,
    headers: { ...r.headers, 'x-request-id': 'X', 'content-length': 'N' },
    text: r.text
      .replace(/"requestId":"req_[^"]+"/, '"requestId":"X"')
      .replace(/"timestamp":"[^"]+"/, '"timestamp":"T"')
      .replace(/"topupId":"[0-9a-f]{24}"/, '"topupId":"ID"')
      .replace(/"topupRef":"(API-[^"]+|r-[0-9]+)"/, '"topupRef":"REF"')
      .replace(/"newBalance":[0-9.]+/, '"newBalance":B'),
  });
  /** The same body through fastify (a query string makes the hot path step aside), then through the hot path; both answers. */
  const both = async (key: string, body: string | (() => string), contentType?: string) => {
    const make = typeof body === 'string' ? () => body : body;
    const slow = await post('/v3/mobile/send?via=fastify', key, make(), contentType);
    const before = ctx.app.fastPathAnswered();
    const fast = await post('/v3/mobile/send', key, make(), contentType);
    return { slow, fast, answeredByHotPath: ctx.app.fastPathAnswered() - before };
  };
  const json = (o: Record<string, unknown>) => JSON.stringify(o);
  const warm = async (key: string) => {
    // The hot path takes only keys in the key cache: one fastify request puts it there.
    await fetch(`${base}/v3/validate`, { headers: { 'X-Access-Token': key } });
  };

  it('records an order exactly as the fastify route does, in both environments, with or without a ref', async () => {
    const prod = ctx.merchant.productionKey;
    const sandbox = ctx.merchant.sandboxKey;
    await warm(prod);
    await warm(sandbox);
    let n = 0;
    for (const [key, withRef] of [[prod, true], [prod, false], [sandbox, true], [sandbox, false]] as const) {
      const body = () => json({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500, ...(withRef ? { ref: `r-${++n}` } : {}) });
      const { slow, fast, answeredByHotPath } = await both(key, body);
      expect(answeredByHotPath).toBe(1);
      expect(slow.status).toBe(200);
      expect(normalise(fast)).toEqual(normalise(slow));
      expect(fast.headers['x-request-id']).toBe((fast.body as { requestId?: string }).requestId);
      expect(fast.headers['content-length']).toBe(String(Buffer.byteLength(fast.text)));
      if (withRef) expect(fast.body.data!.topupRef).toBe(`r-${n}`);
      // Each send charged once: in production the hot path's balance is the fastify one's less one charge.
      if (key === prod) expect(Number(fast.body.data!.newBalance)).toBeCloseTo(Number(slow.body.data!.newBalance) - 500 * 0.9925, 2);
      // The order is the store's, as check-id shows it.
      const check = await fetch(`${base}/v3/mobile/check-id/${String(fast.body.data!.topupId)}`, { headers: { 'X-Access-Token': key } });
      expect(check.status).toBe(200);
    }
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
    // The access line of a hot-path send is fastify's line for it.
    const lines = ctx.logs.filter((l) => l.msg === 'request completed' && String(l.url).startsWith('/v3/mobile/send'));
    const fastLine = lines.find((l) => l.url === '/v3/mobile/send')!;
    const slowLine = lines.find((l) => l.url === '/v3/mobile/send?via=fastify')!;
    expect(Object.keys(fastLine)).toEqual(Object.keys(slowLine));
    expect({ ...fastLine, requestId: 'X', url: 'U', time: 0, ms: 0 }).toEqual({ ...slowLine, requestId: 'X', url: 'U', time: 0, ms: 0 });
  });

  it('answers every error a send can get exactly as the fastify route does', async () => {
    const key = ctx.merchant.productionKey;
    const sandbox = ctx.merchant.sandboxKey;
    await warm(key);
    await warm(sandbox);
    const ok = { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 };
    await post('/v3/mobile/send', key, json({ ...ok, ref: 'taken' }));
    const cases: [string, string, string][] = [
      ['not JSON', key, '{"plan_code":'],
      ['not JSON, a lone word', key, 'nope'],
      ['__proto__ (prototype poisoning)', key, '{"__proto__":{"admin":true},"plan_code":"PREPAID_DJEZZY","MSSIDN":"0778037340","amount":500}'],
      ['__proto__ spelt with escapes', key, '{"\\u005f_proto__":{"admin":true},"plan_code":"PREPAID_DJEZZY","MSSIDN":"0778037340"}'],
      ['constructor.prototype', key, '{"constructor":{"prototype":{"admin":true}},"plan_code":"PREPAID_DJEZZY","MSSIDN":"0778037340"}'],
      ['null', key, 'null'],
      ['an array', key, '[1,2]'],
      ['a string', key, '"send"'],
      ['no plan_code', key, json({ MSSIDN: '0778037340', amount: 500 })],
      ['no MSSIDN', key, json({ plan_code: 'PREPAID_DJEZZY', amount: 500 })],
      ['a bad MSSIDN', key, json({ ...ok, MSSIDN: '12345' })],
      ['amount as a string', key, json({ ...ok, amount: '500' })],
      ['amount not an integer', key, json({ ...ok, amount: 500.5 })],
      ['a bad ref', key, json({ ...ok, ref: 'has space' })],
      ['an unknown plan', key, json({ ...ok, plan_code: 'NO_SUCH_PLAN' })],
      ['an unknown plan in Arabic', key, json({ ...ok, plan_code: 'خطة' })],
      ['below the minimum', key, json({ ...ok, amount: 99 })],
      ['above the maximum', key, json({ ...ok, amount: 10_001 })],
      ['no amount for a dynamic plan', key, json({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340' })],
      ['another operator\'s number', key, json({ ...ok, MSSIDN: '0661234567' })],
      ['a duplicated ref', key, json({ ...ok, ref: 'taken' })],
      ['more than the balance', key, json({ ...ok, amount: 10_000 })],
      ['the sandbox lost reply (0600000007)', sandbox, json({ ...ok, MSSIDN: '0600000007' })],
    ];
    for (const [what, k, body] of cases) {
      const { slow, fast, answeredByHotPath } = await both(k, body);
      expect(answeredByHotPath, what).toBe(1);
      expect(slow.status, what).not.toBe(200);
      expect(normalise(fast), what).toEqual(normalise(slow));
    }
    // No error was logged as a fault (the lost reply answers 500 on purpose).
    expect(ctx.logs.filter((l) => l.level === 50)).toEqual([]);
    // The money: one charge (the 'taken' order), nothing from the refused sends.
    expect(await ctx.deps.store.ledger.checkMoney()).toEqual([]);
  });

  it('leaves to fastify, before reading a byte of the body, what it does not take', async () => {
    const key = ctx.merchant.productionKey;
    await warm(key);
    const ok = json({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
    const stepsAside = async (what: string, init: RequestInit & { headers: Record<string, string> }, path = '/v3/mobile/send') => {
      const before = ctx.app.fastPathAnswered();
      const res = await fetch(`${base}${path}`, { method: 'POST', ...init, headers: { 'X-Access-Token': key, ...init.headers } });
      await res.text();
      expect(ctx.app.fastPathAnswered(), what).toBe(before);
      return res.status;
    };
    expect(await stepsAside('text/plain', { headers: { 'Content-Type': 'text/plain' }, body: ok })).toBe(400);
    expect(await stepsAside('a JSON type with another parameter', { headers: { 'Content-Type': 'application/json; charset=utf-8; x=1' }, body: ok })).toBe(200);
    expect(await stepsAside('an empty body', { headers: { 'Content-Type': 'application/json' }, body: '' })).toBe(400);
    expect(await stepsAside('over the body limit', { headers: { 'Content-Type': 'application/json' }, body: ' '.repeat(16 * 1024 + 1) })).toBe(413);
    const chunked = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(ok));
        c.close();
      },
    });
    expect(await stepsAside('a chunked body', { headers: { 'Content-Type': 'application/json' }, body: chunked, duplex: 'half' } as RequestInit & { headers: Record<string, string> })).toBe(200);
    expect(await stepsAside('a query string', { headers: { 'Content-Type': 'application/json' }, body: ok }, '/v3/mobile/send?x=1')).toBe(200);
    // Content-Length and Transfer-Encoding together: node's parser refuses the request before any path
    // sees it (the hot path relies on that: its Content-Length always frames the whole body).
    const beforeBoth = ctx.app.fastPathAnswered();
    const both = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () =>
        socket.end(`POST /v3/mobile/send HTTP/1.1\r\nHost: x\r\nX-Access-Token: ${key}\r\nContent-Type: application/json\r\nContent-Length: ${ok.length}\r\nTransfer-Encoding: chunked\r\n\r\n${ok.length.toString(16)}\r\n${ok}\r\n0\r\n\r\n`),
      );
      let got = '';
      socket.on('data', (d) => (got += String(d)));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    expect(both).toMatch(/^HTTP\/1\.1 400 /);
    expect(ctx.app.fastPathAnswered()).toBe(beforeBoth);
    // A READ-ONLY key: fastify takes its rate-limit token and refuses it.
    const readOnly = await addTestKey(ctx, { scope: 'READ-ONLY', type: 'PRODUCTION' });
    await warm(readOnly);
    const before = ctx.app.fastPathAnswered();
    const r = await post('/v3/mobile/send', readOnly, ok);
    expect(r.status).toBe(403);
    expect(r.body.error!.code).toBe('READ_ONLY_KEY');
    expect(ctx.app.fastPathAnswered()).toBe(before);
  });

  it('reads a body that arrives in pieces, a character split between two of them, as fastify does', async () => {
    const key = ctx.merchant.productionKey;
    await warm(key);
    const body = Buffer.from(json({ plan_code: 'خطة', MSSIDN: '0778037340', amount: 500 }));
    const split = body.indexOf(Buffer.from('خ')) + 1; // inside the first Arabic letter's two bytes
    const rawSend = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(base).port), '127.0.0.1', () => {
          socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nX-Access-Token: ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
          socket.write(body.subarray(0, split));
          setTimeout(() => socket.write(body.subarray(split)), 50);
        });
        let got = '';
        socket.on('data', (d) => (got += String(d)));
        socket.on('end', () => resolve(got));
        socket.on('error', reject);
      });
    const before = ctx.app.fastPathAnswered();
    const fast = await rawSend('/v3/mobile/send');
    expect(ctx.app.fastPathAnswered()).toBe(before + 1);
    const slow = await rawSend('/v3/mobile/send?via=fastify');
    const bodyOf = (http: string) => http.slice(http.indexOf('\r\n\r\n') + 4).replace(/"requestId":"req_[^"]+"/, '"requestId":"X"');
    expect(fast).toMatch(/^HTTP\/1\.1 400 /);
    expect(bodyOf(fast)).toBe(bodyOf(slow));
    expect(bodyOf(fast)).toContain('"value":"خطة"');
  });
});
