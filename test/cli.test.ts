/**
 * End to end through the built CLI: `shahn serve` in a child process on a real store (a SQLite file,
 * or a PostgreSQL database) and a real port; the seed's own polling client through every sandbox test
 * number; `shahn merchant …` next to the running server; `shahn topup send` watching a sandbox top-up;
 * graceful shutdown. The sandbox keeps the contract's timeline, and the demo merchant's sandbox clock
 * moves it on: nothing waits through the contract's 15 s. Both stores.
 */
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freshDatabase } from './helpers.js';
import { BASE_URL, pollTopupStatus } from './seed/poll-topup-status.js';
import { onSandboxTime } from './seed/sandbox-time.js';
import { BIN, ROOT, runCli, runCliAsync, startServe, type ServeProcess } from './serve-process.js';

async function api(base: string, key: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: { 'X-Access-Token': key, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, requestIdHeader: res.headers.get('x-request-id'), body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe('shahn serve, the seed client and the CLI', () => {
  let server: ServeProcess;
  let db: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const fresh = await freshDatabase();
    [db, drop] = [fresh.db, fresh.drop];
    // The demo (its keys and logins) as a newcomer gets it; asked for explicitly, as PostgreSQL needs.
    // The rate limit raised: on the sandbox clock the seed's 5 minutes of checks (60, each with a clock
    // move) take a second, past the default 100 requests/s of one key.
    server = await startServe({ SHAHN_DB: db, SHAHN_DEMO: 'true', SHAHN_RATE_LIMIT: '1000' });
  });
  afterAll(async () => {
    await server?.stop();
    await drop?.();
  });

  it('a fresh store gets a demo merchant whose keys and curl line are printed', async () => {
    expect(server.sandboxKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(server.productionKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(server.stdout()).toContain('curl -s -X POST');
    const v = await api(server.url, server.sandboxKey!, '/v3/validate');
    expect(v.body.data.username).toBe('+213555000000');
    expect(v.requestIdHeader).toBe(v.body.requestId);
    const bal = await api(server.url, server.productionKey!, '/v3/account/balance');
    expect(bal.body.data.balance).toBe(10000);
  });

  it(
    "the seed's pollTopupStatus reaches FULFILLED for a normal number and UNKNOWN_ERROR for 0600000003, and the CLI watches one to FULFILLED",
    async () => {
      const key = server.sandboxKey!;
      BASE_URL.value = server.url;
      process.env.API_KEY = key;
      const normal = await api(server.url, key, '/v3/mobile/send', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500 });
      const unknown = await api(server.url, key, '/v3/mobile/send', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000003', amount: 500 });
      expect(normal.status).toBe(200);
      expect(unknown.status).toBe(200);
      const advance = (seconds: number) => api(server.url, key, '/v3/sandbox/clock/advance', { seconds });
      const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
      try {
        const a = await onSandboxTime(advance, () => pollTopupStatus(normal.body.data.topupId));
        expect(a.outcome).toMatchObject({ ok: true, value: { status: 'FULFILLED' } });
        expect(a.waits).toBe(3); // PENDING at 0 s, HANDLING at 5 and 10 s, FULFILLED at 15 s
        expect(log.mock.calls).toEqual([['Attempt 1: Status is PENDING'], ['Attempt 2: Status is HANDLING'], ['Attempt 3: Status is HANDLING']]);
      } finally {
        log.mockRestore();
      }
      const b = await onSandboxTime(advance, () => pollTopupStatus(unknown.body.data.topupId));
      expect(b.outcome).toMatchObject({ ok: true, value: { status: 'UNKNOWN_ERROR', refund_message: expect.stringContaining('هذه العملية حالتها غير معروفة') } });
      // The CLI watches its own order every 200 ms (it starts once the seed is done with the clock); the clock moves on each time it has shown a status.
      const moves: Promise<unknown>[] = [];
      const cli = runCliAsync(['topup', 'send', '--key', key, '--plan', 'PREPAID_MOBILIS', '--phone', '0661234567', '--amount', '100', '--url', server.url, '--interval', '200'], {}, (out) => {
        if (moves.length === 0 && /PENDING/.test(out)) moves.push(advance(5));
        if (moves.length === 1 && /HANDLING/.test(out)) moves.push(advance(10));
      });
      const c = await cli;
      await Promise.all(moves);
      expect(c.status).toBe(0);
      expect(c.stdout).toMatch(/sent: topupId [0-9a-f]{24}/);
      expect(c.stdout).toMatch(/PENDING[^]*HANDLING[^]*FULFILLED/);
    },
    90_000,
  );

  it("the seed's pollTopupStatus through the hard cases, on the sandbox clock: 0600000004, 0600000005, 0600000006 and 0600000007", async () => {
    const key = server.sandboxKey!;
    BASE_URL.value = server.url;
    process.env.API_KEY = key;
    const advance = (seconds: number) => api(server.url, key, '/v3/sandbox/clock/advance', { seconds });
    const checkId = async (id: string) => (await api(server.url, key, `/v3/mobile/check-id/${id}`)).body.data;
    const send = (MSSIDN: string, ref: string) => api(server.url, key, '/v3/mobile/send', { plan_code: 'PREPAID_DJEZZY', MSSIDN, amount: 500, ref });
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      // 0600000004: the seed stops at UNKNOWN_ERROR, a final state for it. A merchant who refunded the
      // customer then loses the money: an hour later the operator's answer is FULFILLED.
      const four = (await send('0600000004', 'seed-4')).body.data.topupId as string;
      const r4 = await onSandboxTime(advance, () => pollTopupStatus(four));
      expect(r4).toMatchObject({ outcome: { ok: true, value: { status: 'UNKNOWN_ERROR' } }, waits: 3 });
      await advance(3600);
      expect(await checkId(four)).toMatchObject({ status: 'FULFILLED' });

      // 0600000005: UNKNOWN_ERROR too, then REFUNDED an hour later: the one case where a refund is owed.
      const five = (await send('0600000005', 'seed-5')).body.data.topupId as string;
      const r5 = await onSandboxTime(advance, () => pollTopupStatus(five));
      expect(r5).toMatchObject({ outcome: { ok: true, value: { status: 'UNKNOWN_ERROR' } }, waits: 3 });
      await advance(3600);
      expect(await checkId(five)).toMatchObject({ status: 'REFUNDED', refund_message: expect.any(String) });

      // 0600000006, an operator outage: the seed gives up after its 60 checks (5 minutes), the order
      // still PENDING and nothing to refund. Polled again later, it is FULFILLED.
      const six = (await send('0600000006', 'seed-6')).body.data.topupId as string;
      log.mockClear();
      const r6 = await onSandboxTime(advance, () => pollTopupStatus(six));
      expect(r6.outcome).toMatchObject({ ok: false, error: { message: 'Polling timeout after 5 minutes' } });
      expect(r6.waits).toBe(60);
      expect(log).toHaveBeenLastCalledWith('Attempt 60: Status is PENDING');
      expect(await checkId(six)).toMatchObject({ status: 'PENDING' });
      await advance(300);
      const r6b = await onSandboxTime(advance, () => pollTopupStatus(six));
      expect(r6b.outcome).toMatchObject({ ok: true, value: { status: 'FULFILLED' } });

      // 0600000007, the lost reply: the send answers 500, so the seed never gets a topupId. check-ref
      // finds the order, the same ref again is refused, and the seed follows the order found.
      const lost = await send('0600000007', 'seed-7');
      expect(lost.status).toBe(500);
      expect(lost.body.error.code).toBe('INTERNAL_ERROR');
      const found = await api(server.url, key, '/v3/mobile/check-ref/seed-7');
      expect(found.body.data).toMatchObject({ ref: 'seed-7', MSSIDN: '0600000007', status: 'PENDING' });
      const again = await send('0600000007', 'seed-7');
      expect(again.status).toBe(403);
      expect(again.body.error).toMatchObject({ code: 'DUPLICATED_REF', details: { topupId: found.body.data._id } });
      const r7 = await onSandboxTime(advance, () => pollTopupStatus(found.body.data._id));
      expect(r7).toMatchObject({ outcome: { ok: true, value: { status: 'FULFILLED', ref: 'seed-7' } }, waits: 3 });
    } finally {
      log.mockRestore();
    }
  });

  it('merchant create --json prints exactly one JSON object while serve runs on the same store', async () => {
    const r = runCli(['merchant', 'create', '--username', '+213661111111', '--balance', '2500', '--json'], { SHAHN_DB: db });
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const created = JSON.parse(lines[0]!);
    expect(Object.keys(created).sort()).toEqual(['id', 'productionKey', 'sandboxKey', 'username']);
    expect(created.username).toBe('+213661111111');
    // The running server sees the new merchant and its keys at once.
    const bal = await api(server.url, created.productionKey, '/v3/account/balance');
    expect(bal.body.data).toEqual({ balance: 2500, currency: 'DZD' });

    const dup = runCli(['merchant', 'create', '--username', '+213661111111', '--json'], { SHAHN_DB: db });
    expect(dup.status).toBe(1);
    expect(dup.stderr).toContain('username is already taken');
    const bad = runCli(['merchant', 'create', '--username', '0661111111'], { SHAHN_DB: db });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('+213');

    const credit = runCli(['merchant', 'credit', '--username', '+213661111111', '--amount', '100.50'], { SHAHN_DB: db });
    expect(credit.status).toBe(0);
    expect(credit.stdout).toContain('2500 → 2600.5 DZD');
    const tx = await api(server.url, created.productionKey, '/v3/account/transactions');
    expect(tx.body.data.items[0]).toMatchObject({ type: 'DEPOSIT', operation: 'INCREMENT', amount: 100.5, oldBalance: 2500, newBalance: 2600.5 });
    for (const amount of ['0', '-5', '1.234', 'abc']) {
      const r2 = runCli(['merchant', 'credit', '--username', '+213661111111', '--amount', amount], { SHAHN_DB: db });
      expect(r2.status, amount).toBe(1);
    }
  });

  it('merchant password and admin password set console logins next to the running server', async () => {
    const login = (name: string, password: string) =>
      fetch(`${server.url}/console/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: name, password }) });
    // The demo logins printed by serve work.
    const demo = /merchant login: (\S+)\s+password: (\S+)/.exec(server.stdout());
    expect(server.stdout()).toContain('/console');
    expect((await login(demo![1]!, demo![2]!)).status).toBe(200);

    runCli(['merchant', 'create', '--username', '+213662222222'], { SHAHN_DB: db });
    const fromStdin = spawnSync(process.execPath, [BIN, 'merchant', 'password', '--username', '+213662222222', '--password-stdin'], {
      cwd: ROOT, env: { ...process.env, SHAHN_DB: db, SHAHN_LOG_LEVEL: 'warn' }, input: 'a long enough secret\n', encoding: 'utf8',
    });
    expect(fromStdin.status, fromStdin.stderr).toBe(0);
    expect(fromStdin.stdout).not.toContain('a long enough secret');
    expect((await login('+213662222222', 'a long enough secret')).status).toBe(200);

    const generated = runCli(['admin', 'password', '--name', 'support'], { SHAHN_DB: db });
    expect(generated.status, generated.stderr).toBe(0);
    const pw = /Generated password \(shown only now\):\n\s+(\S+)/.exec(generated.stdout)?.[1];
    expect(pw).toMatch(/^\S{16}$/);
    const r = await login('support', pw!);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { data: { role: string } }).data.role).toBe('admin');

    const disabled = runCli(['admin', 'disable', '--name', 'support', '--reason', 'rotating staff'], { SHAHN_DB: db });
    expect(disabled.status, disabled.stderr).toBe(0);
    expect((await login('support', pw!)).status).toBe(401);
    expect(runCli(['admin', 'enable', '--name', 'support'], { SHAHN_DB: db }).status).toBe(0);
    expect((await login('support', pw!)).status).toBe(200);

    const short = runCli(['merchant', 'password', '--username', '+213662222222', '--password', 'short'], { SHAHN_DB: db });
    expect(short.status).toBe(1);
    expect(short.stderr).toContain('password must be 10 to 200 characters');
    const nobody = runCli(['merchant', 'password', '--username', '+213669999999', '--password', 'long enough password'], { SHAHN_DB: db });
    expect(nobody.status).toBe(1);
    expect(nobody.stderr).toContain('is not a merchant');
  });

  it('topup status shows a final state once, and errors are clear', async () => {
    const key = server.sandboxKey!;
    const sent = await api(server.url, key, '/v3/mobile/send', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0600000001', amount: 300 });
    const once = runCli(['topup', 'status', sent.body.data.topupId, '--key', key, '--url', server.url, '--no-wait', '--json']);
    expect(once.status).toBe(0);
    // Whatever the status is when the command asks, it is shown once and the command returns.
    expect(JSON.parse(once.stdout.trim()).status).toMatch(/^(PENDING|HANDLING|REFUNDED)$/);
    const wrong = runCli(['topup', 'status', sent.body.data.topupId, '--key', 'bad-key', '--url', server.url]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('INVALID_ACCESS_TOKEN');
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM lets an in-flight request finish, then exits 0', async () => {
    const fresh = await freshDatabase();
    const server = await startServe({ SHAHN_DB: fresh.db, SHAHN_DEMO: 'true' });
    const body = JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0778037340', amount: 500, ref: 'in-flight' });
    const url = new URL('/v3/mobile/send', server.url);
    const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'x-access-token': server.productionKey!, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      // Half the body now, SIGTERM, the rest after.
      req.write(body.slice(0, 20));
      setTimeout(() => {
        server.child.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(20)), 300);
      }, 200);
    });
    const r = await reply;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).data.topupRef).toBe('in-flight');
    expect(await server.exited).toBe(0);
    await fresh.drop();
  }, 30_000);
});
