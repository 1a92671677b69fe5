/**
 * PostgreSQL, many processes: 3 API processes and 2 workers on one database. Concurrent sends to one
 * merchant whose balance covers exactly half of them; no order processed twice; balances equal to the
 * ledger; one worker killed mid-flight and recovered; a disabled key stops working on every API
 * process within the key cache bound; a console session works on every API process.
 * Stores: PostgreSQL only: several API and worker processes on one store is the PostgreSQL deployment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMerchant } from '../src/domain/create-merchant.js';
import { createAdmin } from '../src/support/admins.js';
import { setConsolePassword } from '../src/server/console/console-auth.js';
import { buildDeps } from '../src/runtime/build-deps.js';
import { loadConfig } from '../src/config.js';
import { freshStore, tempDir } from './helpers.js';
import { BIN, ROOT, startServe, type ServeProcess } from './serve-process.js';
import { waitUntil } from './processor-helpers.js';

describe('PostgreSQL: 3 API processes and 2 workers', () => {
  const procs: ServeProcess[] = [];
  const workers: ChildProcess[] = [];
  let drop: (() => Promise<void>) | undefined;
  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    for (const p of procs) await p.stop();
    await drop?.();
  });

  it('exactly half accepted, nothing processed twice, a killed worker recovered, ledger equal', async () => {
    const dir = tempDir('shahn-mp-');
    const fresh = await freshStore(dir);
    drop = fresh.drop;
    const store = fresh.store;
    const deps = buildDeps(loadConfig({ SHAHN_DB: fresh.db, SHAHN_LOG_LEVEL: 'silent' }), store);
    const merchant = await createMerchant(deps, { username: '+213662000000', balance: 500_000 }); // 100 × 5000

    // Every send of one merchant waits on its row lock: give the queue room on a loaded 2-core machine.
    const env = { SHAHN_DB: fresh.db, SHAHN_DEMO: 'false', SHAHN_RATE_LIMIT: '0', SHAHN_PROCESSOR: 'false', SHAHN_KEY_CACHE_MS: '2000', SHAHN_PG_STATEMENT_TIMEOUT_MS: '30000', SHAHN_PG_CONNECT_TIMEOUT_MS: '30000' };
    for (let i = 0; i < 3; i++) procs.push(await startServe({ ...env, SHAHN_WORKER_ID: `api-${i}` }));

    // 200 concurrent sends spread over the three API processes.
    const replies = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const res = await fetch(`${procs[i % 3]!.url}/v3/mobile/send`, {
          method: 'POST',
          headers: { 'X-Access-Token': merchant.productionKey, 'Content-Type': 'application/json' },
          body: JSON.stringify({ plan_code: 'GROS_MOBILIS', MSSIDN: '0661234567', amount: 5000, ref: `mp-${i}` }),
        });
        return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
      }),
    );
    const statuses = replies.map((r) => `${r.status} ${r.body.error?.code ?? ''}`);
    expect(replies.filter((r) => r.status === 200), JSON.stringify(statuses)).toHaveLength(100);
    expect(replies.filter((r) => r.body.error?.code === 'INSUFFICIENT_BALANCE'), JSON.stringify(statuses)).toHaveLength(100);
    expect((await store.accounts.findMerchantById(merchant.id))!.balance).toBe(0);

    // Two workers with the simulator (0.3–1.5 s per call); one is killed mid-flight.
    const sim = join(dir, 'sim.json');
    writeFileSync(sim, JSON.stringify({ seed: 5, defaults: { latencyMs: { min: 300, max: 1500 }, rates: { fulfilled: 8, wrongNumber: 1, planMismatch: 1, garbled: 0, timeout: 0 } } }));
    const logs = [join(dir, 'calls-0.log'), join(dir, 'calls-1.log')];
    const startWorker = (i: number) => {
      const w = spawn(process.execPath, [BIN, 'worker'], {
        cwd: ROOT,
        env: {
          ...process.env, SHAHN_DB: fresh.db, SHAHN_LOG_LEVEL: 'warn', SHAHN_WORKER_ID: `worker-${i}`, SHAHN_SIMULATOR_CONFIG: sim,
          SHAHN_SIMULATOR_CALL_LOG: logs[i]!, SHAHN_PROCESSOR_CONCURRENCY: '10', SHAHN_GATEWAY_TIMEOUT_MS: '2000', SHAHN_LEASE_MS: '3000',
          SHAHN_RECOVERY_EVERY_MS: '500', SHAHN_PROCESSOR_POLL_MS: '50',
        },
        stdio: 'ignore',
      });
      workers.push(w);
      return w;
    };
    const victim = startWorker(0);
    startWorker(1);
    await waitUntil(() => existsSync(logs[0]!) && readFileSync(logs[0]!, 'utf8').split('\n').filter((l) => l.startsWith('call')).length >= 5, 15_000, 'worker 0 to make calls');
    victim.kill('SIGKILL');

    // The survivor settles everything, recovering the victim's leases.
    await waitUntil(async () => {
      const orders = (await store.orders.listOrders(merchant.id, 'PRODUCTION', { offset: 0, limit: 1000 })).items;
      return orders.every((o) => o.status !== 'PENDING' && o.status !== 'HANDLING');
    }, 60_000, 'all orders final');

    const calls = new Map<string, number>();
    for (const log of logs) {
      if (!existsSync(log)) continue;
      for (const line of readFileSync(log, 'utf8').split('\n')) {
        const [kind, id] = line.split(' ');
        if (kind === 'call' && id) calls.set(id, (calls.get(id) ?? 0) + 1);
      }
    }
    for (const [id, n] of calls) expect(n, `order ${id} sent ${n} times`).toBe(1);
    const orders = (await store.orders.listOrders(merchant.id, 'PRODUCTION', { offset: 0, limit: 1000 })).items;
    expect(orders).toHaveLength(100);
    // The victim's calls in flight became UNKNOWN_ERROR (never refunded, never re-sent).
    expect(orders.filter((o) => o.status === 'UNKNOWN_ERROR').length).toBeGreaterThan(0);
    expect(await store.ledger.checkMoney()).toEqual([]);
    const refunded = orders.filter((o) => o.status === 'REFUNDED').length;
    expect((await store.accounts.findMerchantById(merchant.id))!.balance).toBe(refunded * 500_000);

    // A key disabled through one API process stops working on the others within SHAHN_KEY_CACHE_MS (2 s here).
    const validate = async (p: ServeProcess) => (await fetch(`${p.url}/v3/validate`, { headers: { 'X-Access-Token': merchant.productionKey } })).status;
    for (const p of procs) expect(await validate(p)).toBe(200);
    const admin = await createAdmin(deps, { name: 'ops' });
    const keys = (await (await fetch(`${procs[0]!.url}/admin/merchants/${encodeURIComponent('+213662000000')}/keys`, { headers: { authorization: `Bearer ${admin.token}` } })).json()) as { data: { items: { id: string; type: string }[] } };
    const keyId = keys.data.items.find((k) => k.type === 'PRODUCTION')!.id;
    const disabledAt = Date.now();
    const r = await fetch(`${procs[0]!.url}/admin/keys/${keyId}`, { method: 'PATCH', headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ isEnabled: false, reason: 'test' }) });
    expect(r.status).toBe(200);
    expect(await validate(procs[0]!)).toBe(403); // at once where it was disabled
    await waitUntil(async () => (await validate(procs[1]!)) === 403 && (await validate(procs[2]!)) === 403, 5_000, 'the key to stop working everywhere');
    expect(Date.now() - disabledAt).toBeLessThanOrEqual(2_000 + 1_000);

    // Five bad keys through one API process block the IP on all of them within the 1 s sync.
    for (let i = 0; i < 5; i++) await fetch(`${procs[0]!.url}/v3/validate`, { headers: { 'X-Access-Token': `bad-${i}` } });
    const blocked = async (p: ServeProcess) => ((await (await fetch(`${p.url}/v3/ping`)).ok) && (await fetch(`${p.url}/v3/validate`, { headers: { 'X-Access-Token': 'bad-again' } })).status === 403);
    await waitUntil(async () => (await blocked(procs[1]!)) && (await blocked(procs[2]!)), 3_000, 'the block to reach every API process');

    // A console session made on one API process works on the others; its CSRF token too.
    await setConsolePassword(deps, { role: 'admin', login: 'ops', password: 'ops console password' });
    const login = await fetch(`${procs[1]!.url}/console/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'ops', password: 'ops console password' }) });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const csrf = ((await login.json()) as { data: { csrfToken: string } }).data.csrfToken;
    const queue = await fetch(`${procs[2]!.url}/console/api/support/queue`, { headers: { cookie } });
    expect(queue.status).toBe(200);
    const credit = await fetch(`${procs[0]!.url}/console/api/support/merchants/credit`, {
      method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify({ username: '+213662000000', amount: 10, reason: 'multi-process console' }),
    });
    expect(credit.status).toBe(200);
    const logout = await fetch(`${procs[2]!.url}/console/api/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf } });
    expect(logout.status).toBe(200);
    expect((await fetch(`${procs[0]!.url}/console/api/session`, { headers: { cookie } })).status).toBe(401);
  }, 120_000);

});
