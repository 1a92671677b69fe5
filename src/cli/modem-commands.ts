/**
 * `shahn modem probe` (what a modem says: model, SIM, network, signal; optionally a balance code's
 * answer, never a top-up) and `shahn modem fake` (fake modems on pseudo-terminal pairs, with a
 * SHAHN_GATEWAYS file for them, to try the modem gateway without hardware).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadCatalogueFile } from '../catalogue/load-catalogue-file.js';
import { AtChannel, AtNoAnswer, type AtResult } from '../gateways/modem/at-channel.js';
import { FAKE_PROFILES, FakeModem, type FakeProfile } from '../gateways/modem/fake-modem.js';
import { openPtyPair, type PtyPair } from '../gateways/modem/pty-pair.js';
import { describeFinal } from '../gateways/modem/sim.js';
import { parseCusd } from '../gateways/modem/ussd.js';
import type { Stoppable } from '../runtime/signals.js';
import { UsageError } from './cli-errors.js';

export interface ProbeOptions {
  baud: string;
  ussd?: string;
  timeout: string;
  json?: boolean;
}

/** A code that holds a phone number is a transfer, not a balance or menu code. */
const LOOKS_LIKE_TOPUP = /\d{9,}/;

export async function modemProbe(device: string, opts: ProbeOptions): Promise<void> {
  const baud = Number(opts.baud);
  const timeoutMs = Number(opts.timeout);
  if (!Number.isInteger(baud) || baud < 300) throw new UsageError(`--baud must be a baud rate (got ${opts.baud})`);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1000) throw new UsageError(`--timeout must be a number of milliseconds ≥ 1000 (got ${opts.timeout})`);
  if (opts.ussd !== undefined && (!/^[*#0-9]+$/.test(opts.ussd) || opts.ussd.includes('"'))) throw new UsageError(`--ussd must be a USSD code of digits, * and # (got ${opts.ussd})`);
  if (opts.ussd !== undefined && LOOKS_LIKE_TOPUP.test(opts.ussd)) {
    throw new UsageError('--ussd holds a phone number: that is a transfer code, and probe never sends a top-up (use the balance code, e.g. *710#)');
  }
  let ch: AtChannel;
  try {
    ch = await AtChannel.open(device, baud);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const report: Record<string, unknown> = { device };
  const out = (label: string, value: string) => {
    if (!opts.json) process.stdout.write(`${label.padEnd(12)} ${value}\n`);
  };
  const ask = async (cmd: string, ms = 3_000): Promise<AtResult | undefined> => {
    try {
      return await ch.command(cmd, ms);
    } catch (err) {
      if (err instanceof AtNoAnswer) return undefined;
      throw err;
    }
  };
  const answer = (r: AtResult | undefined) => (r === undefined ? 'no answer' : r.ok ? r.lines.join(' | ') || 'OK' : describeFinal(r.final));
  try {
    let alive: AtResult | undefined;
    for (let i = 0; i < 3 && !alive?.ok; i++) alive = await ask('AT', 1_500);
    if (!alive?.ok) throw new UsageError(`${device}: no answer to AT (is it the modem's AT port? the right --baud?)`);
    await ask('ATE0');
    await ask('AT+CMEE=1');
    const steps: [string, string, string][] = [
      ['model', 'ATI', 'ATI'],
      ['model-name', 'AT+CGMM', 'AT+CGMM'],
      ['sim', 'AT+CPIN?', 'AT+CPIN?'],
      ['registration', 'AT+CREG?', 'AT+CREG?'],
      ['operator', 'AT+COPS?', 'AT+COPS?'],
      ['signal', 'AT+CSQ', 'AT+CSQ'],
    ];
    for (const [key, label, cmd] of steps) {
      const text = answer(await ask(cmd));
      report[key] = text;
      out(label, text);
    }
    const csq = /\+CSQ:\s*(\d+)/.exec(String(report.signal));
    if (csq) {
      const rssi = Number(csq[1]);
      const words = rssi === 99 ? 'unknown' : `${-113 + 2 * rssi} dBm (${rssi < 10 ? 'weak' : rssi < 15 ? 'fair' : rssi < 20 ? 'good' : 'excellent'})`;
      report.signalDbm = rssi === 99 ? null : -113 + 2 * rssi;
      out('', words);
    }
    if (opts.ussd !== undefined) {
      await ask('AT+CSCS="GSM"');
      const code = opts.ussd;
      const dialCommand = `AT+CUSD=1,"${code}",15`;
      const got = await new Promise<string>((done) => {
        const finish = (v: string) => {
          off();
          offClose();
          clearTimeout(timer);
          done(v);
        };
        const off = ch.onUnsolicited((line) => {
          if (line.startsWith('+CUSD:')) finish(line);
        });
        const offClose = ch.onClose(() => finish('the port closed'));
        const timer = setTimeout(() => finish(''), timeoutMs);
        ch.command(dialCommand, timeoutMs).then(
          (r) => {
            if (!r.ok) finish(r.final);
          },
          () => undefined,
        );
      });
      // The answer may come before the command's OK (or without one): give it a moment, then move on.
      if (ch.busy) await new Promise((r) => setTimeout(r, 500));
      if (ch.busy) ch.abandon(dialCommand);
      const cusd = got ? parseCusd(got) : undefined;
      if (cusd) {
        report.ussd = { code, m: cusd.m, dcs: cusd.dcs ?? null, raw: cusd.raw ?? null, text: cusd.text };
        out(`USSD ${code}`, `+CUSD: ${cusd.m}${cusd.dcs !== undefined ? ` (dcs ${cusd.dcs})` : ''}`);
        if (cusd.raw !== undefined && cusd.raw !== cusd.text) out('raw', cusd.raw);
        out('text', cusd.text);
        if (cusd.m === 1) await ask('AT+CUSD=2');
      } else {
        report.ussd = { code, error: got ? describeFinal(got) : `no answer within ${timeoutMs} ms` };
        out(`USSD ${code}`, got ? describeFinal(got) : `no answer within ${timeoutMs} ms`);
        await ask('AT+CUSD=2');
      }
    }
    if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    await ch.close();
  }
}

export interface FakeOptions {
  dir: string;
  sims: string;
  operator: string;
  profile: string;
  latency: string;
  balance: string;
  pin: string;
}

/** Fake SIMs on pty pairs until SIGINT/SIGTERM, with the SHAHN_GATEWAYS file that uses them. */
export async function modemFake(opts: FakeOptions): Promise<Stoppable> {
  const count = Number(opts.sims);
  if (!Number.isInteger(count) || count < 1 || count > 64) throw new UsageError(`--sims must be 1-64 (got ${opts.sims})`);
  if (!(FAKE_PROFILES as readonly string[]).includes(opts.profile)) throw new UsageError(`--profile must be one of ${FAKE_PROFILES.join(', ')}`);
  const latency = /^(\d+)(?:-(\d+))?$/.exec(opts.latency);
  if (!latency) throw new UsageError(`--latency must be milliseconds, or a range like 5000-12000 (got ${opts.latency})`);
  const latencyMs: number | [number, number] = latency[2] === undefined ? Number(latency[1]) : [Number(latency[1]), Number(latency[2])];
  const balance = Number(opts.balance);
  if (!Number.isFinite(balance) || balance < 0) throw new UsageError(`--balance must be an amount of DZD (got ${opts.balance})`);
  if (!/^\d{4,8}$/.test(opts.pin)) throw new UsageError('--pin must be 4-8 digits');
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const pairs: PtyPair[] = [];
  const modems: FakeModem[] = [];
  const sims = [];
  for (let i = 1; i <= count; i++) {
    const name = `${opts.operator.toLowerCase().slice(0, 2)}-${i}`;
    const pair = await openPtyPair(join(dir, name), join(dir, `${name}.modem`));
    pairs.push(pair);
    modems.push(await FakeModem.open({ device: pair.modemEnd, operatorName: opts.operator, balance, pin: opts.pin, latencyMs, profile: opts.profile as FakeProfile, onVanish: () => void pair.close() }));
    sims.push({ name, device: pair.gatewayEnd, operator: opts.operator, pinEnv: 'FAKE_SIM_PIN' });
  }
  const gatewaysFile = join(dir, 'gateways.json');
  const config = {
    gateways: {
      pool: {
        type: 'modem',
        operators: {
          [opts.operator]: {
            send: '*770*{msisdn}*{amount}*{pin}#',
            balance: '*710#',
            ussdTimeoutMs: 30000,
            rules: [
              { match: '^Succes|^تم تحويل', outcome: 'FULFILLED' },
              { match: '^Echec: solde insuffisant|^فشل', outcome: 'REFUNDED', refundMessage: 'الرصيد المطلوب غير متوفر لهذا الرقم' },
            ],
            balanceMatch: 'solde[^0-9]*(?<balance>[0-9][0-9 .,]*) DA',
            lowBalance: 1000,
            sms: { senders: ['Djezzy', 'Mobilis', 'Ooredoo'], match: 'transfere (?<amount>[0-9]+) DA au (?<msisdn>0[567][0-9]{8})', outcome: 'FULFILLED' },
          },
        },
        sims,
      },
      simulator: { type: 'simulator' },
    },
    // The fake SIMs send flexy (PREPAID_ plans); the operator's other plans (bills, bundles) go to the simulator.
    routes: [
      ...loadCatalogueFile()
        .plans.filter((p) => p.operator === opts.operator && !p.code.startsWith('PREPAID_') && !p.isMenu)
        .map((p) => ({ operator: opts.operator, plan: p.code, gateway: 'simulator' })),
      { operator: opts.operator, gateway: 'pool' },
      { operator: '*', gateway: 'simulator' },
    ],
  };
  writeFileSync(gatewaysFile, `${JSON.stringify(config, null, 2)}\n`);
  process.stdout.write(
    `${count} fake ${opts.operator} SIM${count > 1 ? 's' : ''} (profile ${opts.profile}, ${opts.latency} ms per answer, ${balance} DA each):\n` +
      sims.map((s) => `  ${s.name}  ${s.device}\n`).join('') +
      `\nA gateways file for them: ${gatewaysFile}\nIn another terminal:\n  FAKE_SIM_PIN=${opts.pin} SHAHN_GATEWAYS=${gatewaysFile} npm start\n\nCtrl-C stops the fake modems.\n`,
  );
  return {
    app: { log: { info: () => undefined, error: (_o: object, msg?: string) => void process.stderr.write(`shahn: ${msg ?? 'error'}\n`) } },
    async stop() {
      for (const m of modems) await m.close();
      for (const p of pairs) await p.close();
    },
  };
}
