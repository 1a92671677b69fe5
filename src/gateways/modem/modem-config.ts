/**
 * The settings of a `modem` gateway in SHAHN_GATEWAYS: per catalogue operator, the USSD codes (a
 * top-up template with `{msisdn}`, `{amount}`, `{pin}`; a balance code), how long to wait for an
 * answer, and the answer rules; the SIMs (a serial device each, its operator, where its transfer PIN
 * is: an environment variable or a file, never the file itself).
 *
 *   { "type": "modem",
 *     "operators": { "Djezzy": { "send": "*770*{msisdn}*{amount}*{pin}#", "balance": "*710#",
 *                                "sendPlans": ["PREPAID_DJEZZY"],
 *                                "plans": { "FACTURE_DJEZZY": "*771*{msisdn}*{amount}*{pin}#" },
 *                                "ussdTimeoutMs": 30000, "balanceMatch": "Solde:? *(?<balance>[0-9 .,]+)",
 *                                "lowBalance": 5000,
 *                                "rules": [ { "match": "[Ss]ucc|تم", "outcome": "FULFILLED" },
 *                                           { "match": "[Ss]olde insuffisant", "outcome": "REFUNDED", "refundMessage": "…" } ],
 *                                "sms": { "senders": ["Djezzy"], "match": "(?<amount>[0-9]+) DA .*(?<msisdn>0[567][0-9]{8})", "outcome": "FULFILLED" } } },
 *     "sims": [ { "name": "dj-1", "device": "/dev/ttyUSB0", "operator": "Djezzy", "pinEnv": "DJ1_PIN" } ] }
 */
import { readSecretSetting } from '../secret-setting.js';
import type { AnswerRule } from './ussd.js';

export interface ModemOperator {
  /** The top-up code template, for the plans of `sendPlans`. */
  send: string;
  /** The plans `send` tops up; undefined: the operator's plans whose code starts with `PREPAID_` (flexy). */
  sendPlans: string[] | undefined;
  /** Templates for other plans (plan code → template): a bill or a bundle is not a flexy transfer. */
  plans: Record<string, string>;
  /** The balance code (optional): read at start and every balanceEveryMs while the SIM is idle. */
  balance: string | undefined;
  /** How long to wait for the answer of a dialled code (ms). */
  ussdTimeoutMs: number;
  rules: AnswerRule[];
  /** Reads the SIM balance from the balance code's answer (a named group `balance`). */
  balanceMatch: RegExp | undefined;
  /** A SIM of this operator under this balance (DZD) raises an alert. */
  lowBalance: number | undefined;
  /**
   * Confirmation SMS: the senders trusted to send them (anyone can text a SIM), a pattern with named
   * groups `msisdn` and `amount`, what it confirms, how long after the call it may come (ms).
   */
  sms: { senders: string[]; match: RegExp; outcome: 'FULFILLED' | 'REFUNDED'; refundMessage: string | undefined; windowMs: number } | undefined;
}

/** The USSD template that tops up `planCode` through this operator's SIMs, or undefined when it has none. */
export function templateFor(op: ModemOperator, planCode: string): string | undefined {
  if (op.plans[planCode] !== undefined) return op.plans[planCode];
  const sendsIt = op.sendPlans ? op.sendPlans.includes(planCode) : planCode.startsWith('PREPAID_');
  return sendsIt ? op.send : undefined;
}

export interface ModemSim {
  name: string;
  device: string;
  operator: string;
  baudRate: number;
  /** The transfer PIN, read at start from the environment or a file (never logged, never stored). */
  pin: string | undefined;
}

export interface ModemGatewaySettings {
  type: 'modem';
  operators: Record<string, ModemOperator>;
  sims: ModemSim[];
  /** Failed orders in a row (or failed initialisations) that take a SIM out of rotation. */
  maxFailures: number;
  /** How long a SIM out of rotation waits before it is tried again (ms). */
  retryAfterMs: number;
  /** How often each idle SIM's balance is read with the balance code (ms; 0 = only at start). */
  balanceEveryMs: number;
  /** How often each SIM's messages are read for confirmations (ms). */
  smsEveryMs: number;
  /**
   * After a session that ended without its final answer, how long the SIM dials nothing (ms): the
   * answer may still come, and must not be read as the next order's.
   */
  quietAfterUnclearMs: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Check and read a modem gateway's settings. `fail(field, what)` throws the configuration error;
 * `secret(name)` reads an environment variable (the config module's snapshot).
 */
export function parseModemSettings(spec: Record<string, unknown>, at: string, fail: (field: string, what: string) => never, secret: (name: string) => string | undefined): ModemGatewaySettings {
  const known = ['type', 'operators', 'sims', 'maxFailures', 'retryAfterMs', 'balanceEveryMs', 'smsEveryMs', 'quietAfterUnclearMs'];
  for (const k of Object.keys(spec)) if (!known.includes(k)) fail(`${at}.${k}`, `is not a setting of a modem gateway (${known.join(', ')})`);
  const regex = (v: unknown, field: string): RegExp => {
    if (typeof v !== 'string' || v === '') return fail(field, 'must be a regular expression (a string)');
    try {
      return new RegExp(v);
    } catch (err) {
      return fail(field, `is not a valid regular expression: ${(err as Error).message}`);
    }
  };
  const num = (v: unknown, field: string, fallback: number, min: number): number => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) return fail(field, `must be a whole number ≥ ${min}`);
    return v;
  };
  if (!isObject(spec.operators) || Object.keys(spec.operators).length === 0) fail(`${at}.operators`, 'must name at least one operator');
  const operators: Record<string, ModemOperator> = {};
  for (const [name, raw] of Object.entries(spec.operators as Record<string, unknown>)) {
    const o = `${at}.operators.${name}`;
    if (!isObject(raw)) return fail(o, 'must be an object');
    const allowed = ['send', 'sendPlans', 'plans', 'balance', 'ussdTimeoutMs', 'rules', 'balanceMatch', 'lowBalance', 'sms'];
    for (const k of Object.keys(raw)) if (!allowed.includes(k)) fail(`${o}.${k}`, `is not a setting of a modem operator (${allowed.join(', ')})`);
    const template = (v: unknown, field: string): string => {
      if (typeof v !== 'string' || !v.includes('{msisdn}') || !v.includes('{amount}')) return fail(field, 'must be a USSD template with {msisdn} and {amount} (and {pin} for the transfer PIN)');
      const unknown = [...v.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).filter((n) => !['msisdn', 'amount', 'pin'].includes(n!));
      if (unknown.length > 0) fail(field, `has unknown placeholders: ${unknown.map((n) => `{${n}}`).join(', ')} (known: {msisdn}, {amount}, {pin})`);
      if (v.includes('"')) fail(field, 'must not contain a double quote');
      return v;
    };
    template(raw.send, `${o}.send`);
    if (raw.sendPlans !== undefined && (!Array.isArray(raw.sendPlans) || !raw.sendPlans.every((c) => typeof c === 'string' && c !== ''))) fail(`${o}.sendPlans`, 'must be a list of plan codes');
    const plans: Record<string, string> = {};
    if (raw.plans !== undefined) {
      if (!isObject(raw.plans)) fail(`${o}.plans`, 'must map plan codes to USSD templates');
      for (const [code, t] of Object.entries(raw.plans as Record<string, unknown>)) plans[code] = template(t, `${o}.plans.${code}`);
    }
    if (raw.balance !== undefined && (typeof raw.balance !== 'string' || raw.balance === '' || raw.balance.includes('"'))) fail(`${o}.balance`, 'must be a USSD code');
    if (!Array.isArray(raw.rules) || raw.rules.length === 0) fail(`${o}.rules`, 'must be a list of at least one rule { match, outcome }');
    const rules: AnswerRule[] = (raw.rules as unknown[]).map((r, i) => {
      const rf = `${o}.rules[${i}]`;
      if (!isObject(r)) return fail(rf, 'must be an object { match, outcome, refundMessage? }');
      for (const k of Object.keys(r)) if (!['match', 'outcome', 'refundMessage'].includes(k)) fail(`${rf}.${k}`, 'is not a setting of a rule (match, outcome, refundMessage)');
      if (r.outcome !== 'FULFILLED' && r.outcome !== 'REFUNDED') fail(`${rf}.outcome`, 'must be FULFILLED or REFUNDED (an answer no rule matches is UNKNOWN)');
      if (r.refundMessage !== undefined && (typeof r.refundMessage !== 'string' || r.outcome !== 'REFUNDED')) fail(`${rf}.refundMessage`, 'is a text, for a REFUNDED rule only');
      return { match: regex(r.match, `${rf}.match`), outcome: r.outcome as 'FULFILLED' | 'REFUNDED', ...(r.refundMessage !== undefined ? { refundMessage: r.refundMessage as string } : {}) };
    });
    let sms: ModemOperator['sms'];
    if (raw.sms !== undefined) {
      const s = raw.sms;
      if (!isObject(s)) return fail(`${o}.sms`, 'must be an object { senders, match, outcome, refundMessage?, windowMs? }');
      for (const k of Object.keys(s)) if (!['senders', 'match', 'outcome', 'refundMessage', 'windowMs'].includes(k)) fail(`${o}.sms.${k}`, 'is not a setting of a confirmation SMS (senders, match, outcome, refundMessage, windowMs)');
      if (!Array.isArray(s.senders) || s.senders.length === 0 || !s.senders.every((x) => typeof x === 'string' && x.trim() !== '')) {
        fail(`${o}.sms.senders`, 'must list the senders whose messages are confirmations (the operator\'s short number or name as the modem shows it): anyone can send a SIM a message');
      }
      if (s.refundMessage !== undefined && (typeof s.refundMessage !== 'string' || s.outcome !== 'REFUNDED')) fail(`${o}.sms.refundMessage`, 'is a text, for a REFUNDED confirmation only');
      const match = regex(s.match, `${o}.sms.match`);
      if (!/\(\?<msisdn>/.test(match.source) || !/\(\?<amount>/.test(match.source)) fail(`${o}.sms.match`, 'must have the named groups (?<msisdn>…) and (?<amount>…)');
      if (s.outcome !== 'FULFILLED' && s.outcome !== 'REFUNDED') fail(`${o}.sms.outcome`, 'must be FULFILLED or REFUNDED');
      sms = { senders: (s.senders as string[]).map((x) => x.trim()), match, outcome: s.outcome as 'FULFILLED' | 'REFUNDED', refundMessage: typeof s.refundMessage === 'string' ? s.refundMessage : undefined, windowMs: num(s.windowMs, `${o}.sms.windowMs`, 30 * 60_000, 1000) };
    }
    const balanceMatch = raw.balanceMatch === undefined ? undefined : regex(raw.balanceMatch, `${o}.balanceMatch`);
    if (balanceMatch && !/\(\?<balance>/.test(balanceMatch.source)) fail(`${o}.balanceMatch`, 'must have the named group (?<balance>…)');
    if (raw.lowBalance !== undefined && (typeof raw.lowBalance !== 'number' || raw.lowBalance < 0)) fail(`${o}.lowBalance`, 'must be an amount of DZD');
    operators[name] = {
      send: raw.send as string,
      sendPlans: raw.sendPlans as string[] | undefined,
      plans,
      balance: raw.balance as string | undefined,
      ussdTimeoutMs: num(raw.ussdTimeoutMs, `${o}.ussdTimeoutMs`, 30_000, 1000),
      rules,
      balanceMatch,
      lowBalance: raw.lowBalance as number | undefined,
      sms,
    };
  }
  if (!Array.isArray(spec.sims) || spec.sims.length === 0) fail(`${at}.sims`, 'must be a list of at least one SIM');
  const names = new Set<string>();
  const devices = new Set<string>();
  const sims: ModemSim[] = (spec.sims as unknown[]).map((raw, i) => {
    const s = `${at}.sims[${i}]`;
    if (!isObject(raw)) return fail(s, 'must be an object { name, device, operator, pinEnv | pinFile }');
    const allowed = ['name', 'device', 'operator', 'pinEnv', 'pinFile', 'baudRate'];
    for (const k of Object.keys(raw)) if (!allowed.includes(k)) fail(`${s}.${k}`, `is not a setting of a SIM (${allowed.join(', ')})`);
    if (typeof raw.name !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(raw.name)) fail(`${s}.name`, 'must be 1-32 letters, digits, _ or -');
    if (names.has(raw.name as string)) fail(`${s}.name`, `"${raw.name as string}" names two SIMs`);
    names.add(raw.name as string);
    if (typeof raw.device !== 'string' || raw.device === '') fail(`${s}.device`, 'must be a serial device path (/dev/ttyUSB0)');
    if (devices.has(raw.device as string)) fail(`${s}.device`, `${raw.device as string} is given to two SIMs`);
    devices.add(raw.device as string);
    if (typeof raw.operator !== 'string' || !(raw.operator in operators)) fail(`${s}.operator`, `must be one of this gateway's operators (${Object.keys(operators).join(', ')})`);
    const o = operators[raw.operator as string]!;
    const needsPin = [o.send, ...Object.values(o.plans)].some((t) => t.includes('{pin}'));
    const { value: pin, field } = readSecretSetting(raw, s, 'pin', fail, secret);
    if (pin === undefined && needsPin) fail(s, `needs pinEnv or pinFile: the ${raw.operator as string} code has {pin}`);
    if (pin !== undefined && !/^[0-9]{4,8}$/.test(pin)) fail(field, 'must hold a PIN of 4-8 digits');
    const baudRate = raw.baudRate === undefined ? 115200 : (raw.baudRate as number);
    if (typeof baudRate !== 'number' || !Number.isInteger(baudRate) || baudRate < 300) fail(`${s}.baudRate`, 'must be a baud rate');
    return { name: raw.name as string, device: raw.device as string, operator: raw.operator as string, baudRate, pin };
  });
  return {
    type: 'modem',
    operators,
    sims,
    maxFailures: num(spec.maxFailures, `${at}.maxFailures`, 3, 1),
    retryAfterMs: num(spec.retryAfterMs, `${at}.retryAfterMs`, 10 * 60_000, 100),
    balanceEveryMs: num(spec.balanceEveryMs, `${at}.balanceEveryMs`, 15 * 60_000, 0),
    smsEveryMs: num(spec.smsEveryMs, `${at}.smsEveryMs`, 30_000, 100),
    quietAfterUnclearMs: num(spec.quietAfterUnclearMs, `${at}.quietAfterUnclearMs`, 60_000, 0),
  };
}
