/**
 * `shahn serve` with a modem gateway over a fake modem on a real pty pair: a SIGKILL while a USSD is
 * in flight leaves the order UNKNOWN_ERROR after the restart (its lease expires, its call had
 * started), and the fake modem never receives that order's code again; the restarted process opens
 * the SIM again and fulfils the next order. /v3/ping follows the SIMs (a modem plugged in later).
 * `shahn modem probe` and `shahn modem fake` as a person runs them.
 * Needs: socat
 * Both stores: serve runs on the test store (freshDatabase: a SQLite file or a PostgreSQL database).
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freshDatabase, tempDir } from './helpers.js';
import { DJEZZY_RULES, fakeSim, TEST_PIN, type FakeSim } from './modem-helpers.js';
import { waitUntil } from './processor-helpers.js';
import { BIN, ROOT, runCliAsync, startServe, type ServeProcess } from './serve-process.js';

/** How long a SIM dials nothing after a call left without its answer (longer than a restart takes, so that it shows). */
const QUIET_MS = 10_000;

describe('shahn serve with a modem gateway', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  const setUp = async (sims: Pick<FakeSim, 'name' | 'device'>[]) => {
    const dir = tempDir();
    const fresh = await freshDatabase(dir);
    cleanup.push(() => fresh.drop());
    const file = join(dir, 'gateways.json');
    writeFileSync(
      file,
      JSON.stringify({
        gateways: {
          pool: {
            type: 'modem',
            // Bills have their own code: the SIMs serve every Djezzy plan, and /v3/ping's Djezzy is theirs alone.
            operators: { Djezzy: { send: '*770*{msisdn}*{amount}*{pin}#', plans: { FACTURE_DJEZZY: '*771*{msisdn}*{amount}*{pin}#' }, balance: '*710#', ussdTimeoutMs: 1000, rules: DJEZZY_RULES } },
            sims: sims.map((s) => ({ name: s.name, device: s.device, operator: 'Djezzy', pinEnv: 'SIM_PIN' })),
            retryAfterMs: 500,
            quietAfterUnclearMs: QUIET_MS,
          },
          simulator: { type: 'simulator' },
        },
        routes: [
          { operator: 'Djezzy', gateway: 'pool' },
          { operator: '*', gateway: 'simulator' },
        ],
      }),
    );
    // The lease must outlast the gateway timeout, which must leave room for the USSD answer (1 s + 12 s).
    const env = {
      SHAHN_DB: fresh.db, SHAHN_GATEWAYS: file, SIM_PIN: TEST_PIN, SHAHN_DEMO: 'true', SHAHN_GATEWAY_TIMEOUT_MS: '13000', SHAHN_LEASE_MS: '13500',
      SHAHN_RECOVERY_EVERY_MS: '250', SHAHN_RATE_LIMIT: '100000', SHAHN_DOWN_RETRY_MS: '1000',
    };
    return { fresh, env };
  };
  const serve = async (env: Record<string, string>) => {
    const s = await startServe(env);
    cleanup.push(() => s.stop('SIGKILL'));
    return s;
  };
  const api = async (s: ServeProcess, key: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s.url}${path}`, { method, headers: { 'X-Access-Token': key, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const json = (await res.json()) as { success: boolean; data: Record<string, unknown> };
    if (!json.success && method === 'GET') throw new Error(`${path}: ${JSON.stringify(json)}`);
    return json;
  };

  it('a SIGKILL during a USSD: after the restart the order is UNKNOWN_ERROR, its code is never dialled again, and its SIM dials nothing until its answer could no longer come', async () => {
    const sim = await fakeSim(tempDir(), 'dj-1', { latencyMs: 3_000 });
    cleanup.push(() => sim.close());
    const { fresh, env } = await setUp([sim]);
    const first = await serve(env);
    expect(first.stdout()).toMatch(/Gateways: pool \(modem pool, 1 of 1 SIMs ready \(Djezzy\)\), simulator \(operator simulator\)/);
    const key = first.productionKey!;
    const sent = await api(first, key, 'POST', '/v3/mobile/send', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0770111222', amount: 500 });
    expect(sent.success).toBe(true);
    const id = sent.data.topupId as string;
    await waitUntil(() => sim.modem.dialsFor('0770111222') === 1, 10_000, 'the code dialled');
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await serve(env);
    // The next order, sent at once: the SIM's last call has no answer, which may still come and must not
    // be read as this order's; the SIM dials nothing until QUIET_MS after that call started.
    sim.modem.latencyMs = 50;
    const next = await api(second, key, 'POST', '/v3/mobile/send', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0770111333', amount: 200 });
    await waitUntil(async () => (await api(second, key, 'GET', `/v3/mobile/check-id/${id}`)).data.status === 'UNKNOWN_ERROR', 25_000, 'the order UNKNOWN_ERROR after its lease');
    const [row] = await fresh.sql.all('SELECT gateway_channel, call_started_at FROM orders WHERE id = ?', [id]);
    expect(row!.gateway_channel).toBe('dj-1'); // where a confirmation SMS would be looked for
    expect(row!.call_started_at).not.toBeNull();
    // The SIM is back in use: the next order goes through it once, and the first is never dialled again.
    await waitUntil(async () => (await api(second, key, 'GET', `/v3/mobile/check-id/${next.data.topupId as string}`)).data.status === 'FULFILLED', 25_000, 'the next order FULFILLED');
    expect(sim.modem.dialsFor('0770111333')).toBe(1);
    const nextDial = sim.modem.dials.find((d) => d.msisdn === '0770111333')!.at;
    expect(nextDial - Number(row!.call_started_at)).toBeGreaterThanOrEqual(QUIET_MS - 50);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(sim.modem.dialsFor('0770111222')).toBe(1);
    expect((await api(second, key, 'GET', `/v3/mobile/check-id/${id}`)).data.status).toBe('UNKNOWN_ERROR');
  }, 120_000);

  it('/v3/ping follows the SIMs: a modem plugged in after the start is opened, its operator comes up and its orders go out', async () => {
    const dir = tempDir();
    const device = join(dir, 'dj-1');
    const { env } = await setUp([{ name: 'dj-1', device }]);
    const s = await serve(env);
    const key = s.productionKey!;
    const ping = async () => (await api(s, key, 'GET', '/v3/ping')).data.operators as Record<string, string>;
    expect(await ping()).toMatchObject({ djezzy: 'down', mobilis: 'up' });
    const sent = await api(s, key, 'POST', '/v3/mobile/send', { plan_code: 'PREPAID_DJEZZY', MSSIDN: '0770222333', amount: 300 });
    const id = sent.data.topupId as string;
    await new Promise((r) => setTimeout(r, 700));
    expect((await api(s, key, 'GET', `/v3/mobile/check-id/${id}`)).data.status).toBe('PENDING');
    // Plugged in: opened at the next try (retryAfterMs 500), initialised, in rotation.
    const sim = await fakeSim(dir, 'dj-1', { latencyMs: 50 });
    cleanup.push(() => sim.close());
    await waitUntil(async () => (await ping()).djezzy === 'up', 10_000, 'djezzy up');
    // The order waited PENDING for SHAHN_DOWN_RETRY_MS, then went out once.
    await waitUntil(async () => (await api(s, key, 'GET', `/v3/mobile/check-id/${id}`)).data.status === 'FULFILLED', 15_000, 'the order FULFILLED');
    expect(sim.modem.dialsFor('0770222333')).toBe(1);
  }, 60_000);

  it('shahn modem probe prints what the modem says and runs a balance code, never a top-up; shahn modem fake makes SIMs to try', async () => {
    const sim = await fakeSim(tempDir(), 'dj-1', { balance: 12_345.5 });
    cleanup.push(() => sim.close());
    const probe = await runCliAsync(['modem', 'probe', sim.device, '--ussd', '*710#', '--json']);
    expect(probe.status, probe.stderr).toBe(0);
    expect(JSON.parse(probe.stdout)).toMatchObject({
      device: sim.device,
      model: 'Manufacturer: shahn | Model: FAKE-MODEM | Revision: 1.0',
      sim: '+CPIN: READY',
      registration: '+CREG: 0,1',
      operator: '+COPS: 0,0,"Djezzy"',
      signalDbm: -71,
      ussd: { code: '*710#', m: 0, dcs: 15, text: 'Votre solde est de 12345.50 DA' },
    });
    const human = await runCliAsync(['modem', 'probe', sim.device]);
    expect(human.stdout).toMatch(/^AT\+CPIN\?\s+\+CPIN: READY$/m);
    const topup = await runCliAsync(['modem', 'probe', sim.device, '--ussd', '*770*0770000001*100*1234#']);
    expect(topup.status).toBe(1);
    expect(topup.stderr).toMatch(/--ussd holds a phone number: that is a transfer code, and probe never sends a top-up/);
    const missing = await runCliAsync(['modem', 'probe', join(tempDir(), 'ttyUSB9')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^shahn: No such file or directory, cannot open .*ttyUSB9\n$/);
    expect(sim.modem.dials).toEqual([]);

    const dir = tempDir();
    const fake = spawn(process.execPath, [BIN, 'modem', 'fake', '--dir', dir, '--sims', '2', '--latency', '100'], { cwd: ROOT });
    cleanup.push(async () => fake.exitCode === null && fake.kill('SIGKILL'));
    let out = '';
    fake.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitUntil(() => out.includes('Ctrl-C stops'), 10_000, 'the fake modems');
    expect(out).toContain(`FAKE_SIM_PIN=1234 SHAHN_GATEWAYS=${join(dir, 'gateways.json')} npm start`);
    const config = JSON.parse(readFileSync(join(dir, 'gateways.json'), 'utf8'));
    expect(config.gateways.pool.sims.map((s: { name: string }) => s.name)).toEqual(['dj-1', 'dj-2']);
    const onFake = await runCliAsync(['modem', 'probe', join(dir, 'dj-2'), '--json']);
    expect(JSON.parse(onFake.stdout)).toMatchObject({ sim: '+CPIN: READY' });
    fake.kill('SIGTERM');
    expect(await new Promise((r) => fake.once('exit', r))).toBe(0);
  }, 60_000);
});
