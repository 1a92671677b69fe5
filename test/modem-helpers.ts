/** Fake SIMs on real pseudo-terminal pairs, and a modem pool over them wired to a test context's store. */
import { join } from 'node:path';
import { FakeModem, type FakeModemOptions } from '../src/gateways/modem/fake-modem.js';
import { parseModemSettings, type ModemGatewaySettings } from '../src/gateways/modem/modem-config.js';
import { ModemPool } from '../src/gateways/modem/modem-pool.js';
import { openPtyPair, type PtyPair } from '../src/gateways/modem/pty-pair.js';
import { GatewaysConfigError } from '../src/gateways/gateways-config.js';
import { modemRuntime } from '../src/runtime/gateways.js';
import type { TestContext } from './helpers.js';
import { silentLog } from './processor-helpers.js';

export const TEST_PIN = '73915';

export interface FakeSim {
  name: string;
  /** The path the gateway opens. */
  device: string;
  modem: FakeModem;
  pair: PtyPair;
  close(): Promise<void>;
}

/** A fake modem on a fresh pty pair in `dir`; its `vanish` profile kills the pair. */
export async function fakeSim(dir: string, name: string, options: Omit<FakeModemOptions, 'device' | 'onVanish'> = {}): Promise<FakeSim> {
  const pair = await openPtyPair(join(dir, name), join(dir, `${name}.modem`));
  const modem = await FakeModem.open({ pin: TEST_PIN, latencyMs: 20, ...options, device: pair.modemEnd, onVanish: () => void pair.close() });
  return {
    name,
    device: pair.gatewayEnd,
    modem,
    pair,
    async close() {
      await modem.close();
      await pair.close();
    },
  };
}

/** Answer rules like a real Djezzy retailer SIM's: anchored success and refusal texts (French and Arabic). */
export const DJEZZY_RULES = [
  { match: '^Succes|^تم تحويل', outcome: 'FULFILLED' },
  { match: '^Echec: solde insuffisant|^فشل', outcome: 'REFUNDED', refundMessage: 'الرصيد المطلوب غير متوفر لهذا الرقم' },
];

/** A modem gateway's settings over fake SIMs (all Djezzy unless `operators` says otherwise). */
export function modemSettings(sims: { name: string; device: string; operator?: string }[], overrides: Record<string, unknown> = {}, operator: Record<string, unknown> = {}): ModemGatewaySettings {
  const spec = {
    type: 'modem',
    operators: {
      Djezzy: { send: '*770*{msisdn}*{amount}*{pin}#', balance: '*710#', ussdTimeoutMs: 1500, rules: DJEZZY_RULES, ...operator },
    },
    sims: sims.map((s) => ({ name: s.name, device: s.device, operator: s.operator ?? 'Djezzy', pinEnv: 'SIM_PIN' })),
    retryAfterMs: 300,
    smsEveryMs: 200,
    quietAfterUnclearMs: 300,
    ...overrides,
  };
  return parseModemSettings(spec, 'gateways.pool', (field, what) => {
    throw new GatewaysConfigError(`${field} ${what}`);
  }, (name) => (name === 'SIM_PIN' ? TEST_PIN : undefined));
}

/** A modem pool whose SIM states, alerts and messages go to the test context's store (as in serve). */
export function makePool(ctx: TestContext, settings: ModemGatewaySettings, options: { queueWaitMs?: number; tickMs?: number } = {}): ModemPool {
  const windows = (_g: string, operator: string) => settings.operators[operator]?.sms?.windowMs ?? 30 * 60_000;
  const runtime = modemRuntime(ctx.config, ctx.deps.store, { drive: true, log: silentLog, clock: ctx.clock }, windows);
  return new ModemPool('pool', settings, runtime.hooks('pool'), { queueWaitMs: options.queueWaitMs ?? 15_000, tickMs: options.tickMs ?? 50, publishEveryMs: 500 });
}
