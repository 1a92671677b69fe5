/**
 * Gateways are configuration (SHAHN_GATEWAYS): named gateways, and routes from catalogue operators
 * (or plans, or "*") to them. A file that is wrong stops `serve` with the field named; orders go to
 * the gateway of the most specific route; /v3/ping's operator health comes from the gateways that
 * serve each operator. Runs on SQLite and PostgreSQL (the processor records through the store).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkRoutes, defaultGatewaysConfig, parseGatewaysConfig, type GatewaysConfig } from '../src/gateways/gateways-config.js';
import { makeGateways } from '../src/gateways/make-gateways.js';
import { OperatorSimulator } from '../src/gateways/operator-simulator.js';
import { buildApp } from '../src/server/build-app.js';
import { buildDeps } from '../src/runtime/build-deps.js';
import { call, makeContext, tempDir, type TestContext } from './helpers.js';
import { makeProcessor, silentLog, waitUntil } from './processor-helpers.js';
import { runCliAsync } from './serve-process.js';

const instant = { defaults: { latencyMs: { min: 0, max: 0 }, rates: { fulfilled: 1, wrongNumber: 0, planMismatch: 0, timeout: 0, garbled: 0 } } };

describe('gateways from configuration', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await makeContext({ balance: 10_000 });
  });
  afterEach(async () => {
    await ctx.close();
  });

  const catalogue = async () => {
    const c = await ctx.deps.catalogue.get();
    return { operators: [...c.operators.values()], plans: [...c.plans.values()] };
  };
  const router = async (cfg: GatewaysConfig) => makeGateways(cfg, await catalogue(), { catalogue: () => ctx.deps.catalogue.get(), trackCalls: true });

  it('a file that is not right is refused with the field named', async () => {
    const bad: [unknown, RegExp][] = [
      [[], /\(the whole file\) must be a JSON object/],
      [{ routes: [] }, /gateways must be an object naming at least one gateway/],
      [{ gateways: { sim: { type: 'modem3000' } }, routes: [{ operator: '*', gateway: 'sim' }] }, /gateways\.sim\.type must be one of simulator, modem, relay \(got "modem3000"\)/],
      [{ gateways: { sim: { type: 'simulator', latency: 1 } }, routes: [{ operator: '*', gateway: 'sim' }] }, /gateways\.sim\.latency is not a setting/],
      [{ gateways: { sim: { type: 'simulator' } }, routes: [{ operator: '*', gateway: 'other' }] }, /routes\[0\]\.gateway must name one of the gateways \(sim\)/],
      [{ gateways: { sim: { type: 'simulator' } }, routes: [{ operator: '*', gateway: 'sim' }, { operator: '*', gateway: 'sim' }] }, /routes\[1\] routes \* a second time/],
      [{ gateways: { sim: { type: 'simulator' } }, routes: [{ operator: '*', plan: 'X', gateway: 'sim' }] }, /routes\[0\]\.plan needs the plan's operator/],
      [{ gateways: { sim: { type: 'simulator' } }, routes: [], extra: 1 }, /extra is not a setting/],
    ];
    for (const [raw, message] of bad) expect(() => parseGatewaysConfig(raw, 'test'), JSON.stringify(raw)).toThrow(message);

    const c = await catalogue();
    const check = (raw: unknown) => checkRoutes(parseGatewaysConfig(raw, 'test'), c.operators, c.plans);
    expect(() => check({ gateways: { sim: { type: 'simulator' } }, routes: [{ operator: 'Djezy', gateway: 'sim' }, { operator: '*', gateway: 'sim' }] })).toThrow(/routes\[0\]\.operator "Djezy" is not an operator of the catalogue/);
    expect(() => check({ gateways: { sim: { type: 'simulator' } }, routes: [{ operator: 'Djezzy', plan: 'PREPAID_MOBILIS', gateway: 'sim' }, { operator: '*', gateway: 'sim' }] })).toThrow(/routes\[0\]\.plan "PREPAID_MOBILIS" is not a plan of Djezzy/);
    expect(() => check({ gateways: { sim: { type: 'simulator' } }, routes: [{ operator: 'Djezzy', gateway: 'sim' }] })).toThrow(/no route serves (GMobilis|Mobilis)/);
    // A modem gateway serves the operators it has codes for, and plans of theirs only.
    const modem = (operators: Record<string, unknown>, routes: unknown[]) => ({
      gateways: { pool: { type: 'modem', operators, sims: [{ name: 'm-1', device: '/dev/null', operator: Object.keys(operators)[0] }] }, sim: { type: 'simulator' } },
      routes,
    });
    const djezzy = { send: '*770*{msisdn}*{amount}#', rules: [{ match: '^Succes', outcome: 'FULFILLED' }] };
    expect(() => check(modem({ Djezy: djezzy }, [{ operator: '*', gateway: 'sim' }]))).toThrow(/gateways\.pool\.operators\.Djezy is not an operator of the catalogue/);
    expect(() => check(modem({ Djezzy: { ...djezzy, plans: { PREPAID_MOBILIS: '*1*{msisdn}*{amount}#' } } }, [{ operator: '*', gateway: 'sim' }]))).toThrow(/gateways\.pool\.operators\.Djezzy\.plans\.PREPAID_MOBILIS: PREPAID_MOBILIS is not a plan of Djezzy/);
    expect(() => check(modem({ Djezzy: { ...djezzy, sendPlans: ['PREPAID_DJEZY'] } }, [{ operator: '*', gateway: 'sim' }]))).toThrow(/gateways\.pool\.operators\.Djezzy\.sendPlans: PREPAID_DJEZY is not a plan of Djezzy/);
    expect(() => check(modem({ Djezzy: djezzy }, [{ operator: 'Mobilis', gateway: 'pool' }, { operator: '*', gateway: 'sim' }]))).toThrow(/the routes send Mobilis to the modem gateway pool, which has no codes for it/);
    expect(() => check(modem({ Djezzy: djezzy }, [{ operator: '*', gateway: 'pool' }]))).toThrow(/the routes send .*Mobilis.* to the modem gateway pool, which has no codes for them/);
    // A bill (FACTURE) is not a flexy transfer: routed to the SIMs, it needs its own code, or another gateway.
    const facture = /the plan FACTURE_DJEZZY of Djezzy is routed to the modem gateway pool, which has no USSD code for it: give it one in gateways\.pool\.operators\.Djezzy\.plans .*or route it to another gateway with \{ "operator": "Djezzy", "plan": "FACTURE_DJEZZY", "gateway": … \}/;
    expect(() => check(modem({ Djezzy: djezzy }, [{ operator: 'Djezzy', gateway: 'pool' }, { operator: '*', gateway: 'sim' }]))).toThrow(facture);
    expect(() => check(modem({ Djezzy: djezzy }, [{ operator: 'Djezzy', plan: 'FACTURE_DJEZZY', gateway: 'pool' }, { operator: '*', gateway: 'sim' }]))).toThrow(facture);
    expect(() => check(modem({ Djezzy: djezzy }, [{ operator: 'Djezzy', plan: 'FACTURE_DJEZZY', gateway: 'sim' }, { operator: 'Djezzy', gateway: 'pool' }, { operator: '*', gateway: 'sim' }]))).not.toThrow();
    expect(() => check(modem({ Djezzy: { ...djezzy, plans: { FACTURE_DJEZZY: '*771*{msisdn}*{amount}#' } } }, [{ operator: 'Djezzy', gateway: 'pool' }, { operator: '*', gateway: 'sim' }]))).not.toThrow();
    // One SIM, one gateway: a name or a device in two modem gateways is refused.
    const twoPools = (second: Record<string, unknown>) => ({
      gateways: { a: { type: 'modem', operators: { Djezzy: djezzy }, sims: [{ name: 'm-1', device: '/dev/ttyUSB0', operator: 'Djezzy' }] }, b: { type: 'modem', operators: { Djezzy: djezzy }, sims: [{ operator: 'Djezzy', ...second }] } },
      routes: [{ operator: '*', gateway: 'a' }],
    });
    expect(() => parseGatewaysConfig(twoPools({ name: 'm-1', device: '/dev/ttyUSB1' }), 'test')).toThrow(/gateways\.b\.sims\[0\] has the name m-1, which a SIM of gateways\.a has too/);
    expect(() => parseGatewaysConfig(twoPools({ name: 'm-2', device: '/dev/ttyUSB0' }), 'test')).toThrow(/gateways\.b\.sims\[0\] has the device \/dev\/ttyUSB0, which a SIM of gateways\.a has too/);
    // The gateway timeout must leave room for the answer.
    expect(() =>
      makeGateways(parseGatewaysConfig(modem({ Djezzy: { ...djezzy, ussdTimeoutMs: 55_000 } }, [{ operator: 'Djezzy', plan: 'FACTURE_DJEZZY', gateway: 'sim' }, { operator: 'Djezzy', gateway: 'pool' }, { operator: '*', gateway: 'sim' }]), 'test'), c, {
        catalogue: () => ctx.deps.catalogue.get(),
        modem: { drive: false, gatewayTimeoutMs: 60_000, hooks: () => { throw new Error('not driven'); }, read: async () => [], now: () => 0, log: silentLog },
      }),
    ).toThrow(/a ussdTimeoutMs of 55000 ms does not fit in the gateway timeout \(SHAHN_GATEWAY_TIMEOUT_MS=60000\): it must be at least 67000 ms/);
    await expect(router(parseGatewaysConfig({ gateways: { sim: { type: 'simulator', config: { seed: -1 } } }, routes: [{ operator: '*', gateway: 'sim' }] }, 'test'))).rejects.toThrow(
      /gateways\.sim\.config: seed must be a number/,
    );
  });

  it('`serve` with a bad SHAHN_GATEWAYS stops with one line naming the field', async () => {
    const file = join(tempDir(), 'gateways.json');
    writeFileSync(file, JSON.stringify({ gateways: { pool: { type: 'modem3000' } }, routes: [{ operator: '*', gateway: 'pool' }] }));
    const r = await runCliAsync(['serve'], { SHAHN_DB: join(tempDir(), 'shahn.db'), PORT: '0', SHAHN_GATEWAYS: file });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([`shahn: SHAHN_GATEWAYS (${file}): gateways.pool.type must be one of simulator, modem, relay (got "modem3000")`]);
  });

  it('orders go to the most specific route; /v3/ping reports an operator by the gateways that serve it', async () => {
    const gateways = await router(
      parseGatewaysConfig(
        {
          gateways: { fast: { type: 'simulator', config: instant }, djezzy: { type: 'simulator', config: instant }, facture: { type: 'simulator', config: instant } },
          routes: [
            { operator: 'Djezzy', plan: 'FACTURE_DJEZZY', gateway: 'facture' },
            { operator: 'Djezzy', gateway: 'djezzy' },
            { operator: '*', gateway: 'fast' },
          ],
        },
        'test',
      ),
    );
    const sims = ['fast', 'djezzy', 'facture'].map((n) => gateways.gateways.get(n) as OperatorSimulator);
    const deps = buildDeps(ctx.config, ctx.deps.store, { clock: ctx.clock, gateways });
    const app = await buildApp(deps, { logger: silentLog });
    const send = async (plan_code: string, MSSIDN: string, amount?: number) =>
      (await app.inject({ method: 'POST', url: '/v3/mobile/send', headers: { 'x-access-token': ctx.merchant.productionKey, 'content-type': 'application/json' }, payload: JSON.stringify({ plan_code, MSSIDN, ...(amount ? { amount } : {}) }) })).json().data.topupId as string;
    const ids = { mobilis: await send('PREPAID_MOBILIS', '0661234567', 100), djezzy: await send('PREPAID_DJEZZY', '0778037340', 100), facture: await send('FACTURE_DJEZZY', '0778037341', 100) };
    const p = makeProcessor({ ...ctx, deps } as TestContext, gateways);
    await p.tick();
    await p.drain();
    const [fast, djezzy, facture] = sims as [OperatorSimulator, OperatorSimulator, OperatorSimulator];
    expect([fast.callsFor(ids.mobilis), djezzy.callsFor(ids.djezzy), facture.callsFor(ids.facture)]).toEqual([1, 1, 1]);
    expect([fast.totalCalls(), djezzy.totalCalls(), facture.totalCalls()]).toEqual([1, 1, 1]);
    for (const id of Object.values(ids)) expect((await ctx.deps.store.orders.findOrderAnywhere(id))?.status).toBe('FULFILLED');

    // Djezzy is served by two gateways: down only when both are; the others are untouched.
    const ping = async () => (await app.inject({ method: 'GET', url: '/v3/ping' })).json().data.operators as Record<string, string>;
    djezzy.configure({ operators: { djezzy: { down: true } } });
    expect((await ping()).djezzy).toBe('up');
    facture.configure({ operators: { djezzy: { down: true } } });
    expect(await ping()).toEqual({ djezzy: 'down', mobilis: 'up', ooredoo: 'up', mobilisFixedPlans: 'up' });
    // A down gateway's orders wait PENDING, never sent.
    const waiting = await send('PREPAID_DJEZZY', '0778037342', 100);
    await p.tick();
    await waitUntil(async () => (await ctx.deps.store.orders.findOrderAnywhere(waiting))?.status === 'PENDING');
    expect(djezzy.callsFor(waiting)).toBe(0);
    await app.close();
  });

  it('without a file: one simulator for every operator', async () => {
    const gateways = await router(defaultGatewaysConfig(undefined));
    expect([...gateways.gateways.keys()]).toEqual(['simulator']);
    const sim = gateways.simulator();
    expect(sim).toBeInstanceOf(OperatorSimulator);
    for (const op of ['Mobilis', 'Djezzy', 'Ooredoo', 'Pixx', 'GMobilis']) expect(gateways.route({ operator: op, planCode: 'X' })).toBe(sim);
    expect((await call(ctx, 'GET', '/v3/ping')).status).toBe(200);
  });
});
