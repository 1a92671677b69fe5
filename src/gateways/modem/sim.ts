/**
 * One retailer SIM in one GSM modem, driven over its serial port: initialised, then one thing at a
 * time (a top-up, a balance read, reading its messages), as the AT port allows.
 *
 * The rule that keeps a number from being topped up twice: before the top-up code is dialled, any
 * failure (no SIM, PIN wanted, SIM busy, no network, no answer, port gone) means nothing went out,
 * and the order may go to another SIM. Once `ctx.callStarting()` is called and the AT+CUSD=1 line
 * is written, only a final `+CUSD: 0` answer that the operator's rules read is definitive; anything
 * else (a menu, a session ended or timed out by the network, no answer, garbled bytes, the modem
 * gone, an answer the rules disagree on) is UNKNOWN for support. The SIM never dials a code again.
 */
import { existsSync } from 'node:fs';
import { MESSAGES } from '@shahn/contract/core';
import type { Log } from '../../lib/log.js';
import type { GatewayOutcome, GatewayRequest, SendContext } from '../gateway.js';
import { AtChannel, AtNoAnswer, type AtResult } from './at-channel.js';
import type { ModemOperator, ModemSim } from './modem-config.js';
import { applyRules, decodeSmsText, encodeUcs2, fillTemplate, parseCusd, readAmount, type CusdAnswer } from './ussd.js';

export type SimState = 'starting' | 'ready' | 'out' | 'gone' | 'stopped';

/** What a SIM reports (the console's SIM view, /v3/ping through `usable`). */
export interface SimStatus {
  state: SimState;
  /** Dialling or reading right now. */
  busy: boolean;
  device: string;
  operator: string;
  /** AT+CSQ rssi (0-31; 99 unknown), null before the first read. */
  signal: number | null;
  /** DZD, null when unknown. */
  balance: number | null;
  /** Lowered by the amounts sent since the balance was last read. */
  balanceEstimated: boolean;
  balanceAt: number | null;
  /** The last answer the network gave (decoded), and when. */
  lastAnswer: string | null;
  lastAnswerAt: number | null;
  /** Top-up codes dialled today (Algeria's day, UTC+1). */
  ordersToday: number;
  day: string;
  /** Orders that failed in a row (UNKNOWN, or a failed check before dialling). */
  failures: number;
  /** Why the SIM is out of rotation or gone. */
  reason: string | null;
  /** When a SIM out of rotation is tried again. */
  retryAt: number | null;
}

/** A message read from a SIM, and what the operator's SMS rule made of it. */
export interface SimMessage {
  sim: string;
  operator: string;
  index: number;
  sender: string;
  /** The time stamp the network gave it, as the modem printed it. */
  sentAt: string;
  /** How long before it was read the message was sent (ms, by that time stamp); undefined when the stamp is unreadable. */
  sentAgoMs: number | undefined;
  text: string;
  /** Is the sender one of the operator's confirmation senders? */
  trustedSender: boolean;
  /** The confirmation it carries: a trusted sender, and the operator's SMS pattern matches. */
  confirmation: { msisdn: string; amount: number; outcome: 'FULFILLED' | 'REFUNDED'; refundMessage: string | undefined } | undefined;
  /** Handed on before (it stayed on the SIM): already in the audit trail. */
  repeat: boolean;
}

export interface SimHooks {
  log: Log;
  now(): number;
  /** Something in the status changed. */
  changed(): void;
  /** A support alert about this SIM. */
  alert(topic: 'SIM_OUT_OF_ROTATION' | 'SIM_LOW_BALANCE' | 'SIM_GONE', payload: Record<string, unknown>): void;
  /**
   * A message read from the SIM: resolves once it is durably handled, then it is deleted from the SIM;
   * 'keep': leave it there and hand it on again at the next read (the call it confirms is still awaiting its answer).
   */
  message(message: SimMessage): Promise<'keep' | void>;
  /** How long ago the latest call through this SIM that has no answer yet started (ms), within `withinMs`; null when none. */
  unansweredCallAgo(withinMs: number): Promise<number | null>;
}

export interface SimPolicy {
  maxFailures: number;
  retryAfterMs: number;
  balanceEveryMs: number;
  smsEveryMs: number;
  quietAfterUnclearMs: number;
}

/** What a top-up through this SIM ended in; `retryElsewhere`: nothing was dialled, another SIM may take it; `dialled`: the code was written. */
export interface SimTopUp {
  outcome: GatewayOutcome;
  retryElsewhere: boolean;
  dialled: boolean;
}

const CME_MEANING: Record<string, string> = {
  '3': 'operation not allowed',
  '4': 'operation not supported',
  '10': 'SIM not inserted',
  '11': 'SIM PIN required',
  '12': 'SIM PUK required',
  '13': 'SIM failure',
  '14': 'SIM busy',
  '15': 'wrong SIM',
  '30': 'no network service',
  '100': 'unknown error',
  '515': 'device busy',
};

/** A final result in words: `+CME ERROR: 14 (SIM busy)`. */
export function describeFinal(final: string): string {
  const m = /^\+CME ERROR:\s*(\d+)/.exec(final);
  return m && CME_MEANING[m[1]!] ? `${final} (${CME_MEANING[m[1]!]})` : final;
}

const REGISTERED = /^\+CREG:\s*(?:\d+\s*,\s*)?([15])\b/;
const STEP_MS = 5_000;

/** The day in Algeria (UTC+1, no daylight saving time). */
function algiersDay(now: number): string {
  return new Date(now + 3_600_000).toISOString().slice(0, 10);
}

/** A local number as orders carry it (0XXXXXXXXX) from what an SMS says (+213…, 00213…, 213…). */
export function localNumber(text: string): string {
  const d = text.replace(/[^0-9]/g, '');
  if (d.startsWith('00213')) return `0${d.slice(5)}`;
  if (d.startsWith('213') && d.length === 12) return `0${d.slice(3)}`;
  return d;
}

/**
 * A message's time stamp as AT+CMGL prints it in text mode (`yy/MM/dd,hh:mm:ss±zz`, zz in quarter
 * hours from UTC), in ms; undefined when it is not one.
 */
export function parseSmsTime(text: string): number | undefined {
  const m = /^(\d{2})\/(\d{2})\/(\d{2}),(\d{2}):(\d{2}):(\d{2})([+-]\d{1,2})?$/.exec(text.trim());
  if (!m) return undefined;
  const [, yy, mo, dd, hh, mi, ss, zone] = m;
  const utc = Date.UTC(2000 + Number(yy), Number(mo) - 1, Number(dd), Number(hh), Number(mi), Number(ss));
  if (Number.isNaN(utc) || Number(mo) < 1 || Number(mo) > 12 || Number(dd) < 1 || Number(dd) > 31) return undefined;
  return utc - Number(zone ?? 0) * 15 * 60_000;
}

/** How long ago (ms, never negative) a time stamp was; undefined without one. */
function sentAgo(at: number | undefined, now: number): number | undefined {
  return at === undefined ? undefined : Math.max(0, now - at);
}

class InitFailure extends Error {}

export class SimWorker {
  readonly status: SimStatus;
  lastUsedAt = 0;
  private ch: AtChannel | undefined;
  private connecting: Promise<void> | undefined;
  private balanceDueAt = 0;
  private smsDueAt = 0;
  private lowAlerted = false;
  private stopped = false;
  private task: Promise<unknown> | undefined;
  /** No new session before this time: the last one ended without a final answer, which may still come. */
  private quietUntil = 0;
  /** Set while a dial waits for its answer: a +CUSD at any other time is stray. */
  private waiting = false;
  /** The state out of rotation last alerted about, until the SIM is ready again. */
  private alerted: 'out' | 'gone' | undefined;
  /** Messages handed on and not yet deleted from the SIM (index, time stamp, text). */
  private readonly handedOn = new Set<string>();

  constructor(
    readonly sim: ModemSim,
    readonly op: ModemOperator,
    private readonly policy: SimPolicy,
    private readonly hooks: SimHooks,
  ) {
    const now = hooks.now();
    this.status = {
      state: 'starting',
      busy: false,
      device: sim.device,
      operator: sim.operator,
      signal: null,
      balance: null,
      balanceEstimated: false,
      balanceAt: null,
      lastAnswer: null,
      lastAnswerAt: null,
      ordersToday: 0,
      day: algiersDay(now),
      failures: 0,
      reason: null,
      retryAt: null,
    };
  }

  get name(): string {
    return this.sim.name;
  }

  get operator(): string {
    return this.sim.operator;
  }

  get usable(): boolean {
    return this.status.state === 'ready';
  }

  /** Ready, not busy, and not waiting out a session that ended without its answer (a late answer would be mistaken for the next). */
  get idle(): boolean {
    return this.usable && !this.status.busy && this.hooks.now() >= this.quietUntil;
  }

  /** Can it send `amount` DZD (its balance unknown counts as enough)? */
  canAfford(amount: number): boolean {
    return this.status.balance === null || this.status.balance >= amount;
  }

  /** Take the SIM for one piece of work; false when it is not idle. */
  tryAcquire(): boolean {
    if (!this.idle) return false;
    this.status.busy = true;
    this.hooks.changed();
    return true;
  }

  release(): void {
    this.status.busy = false;
    this.hooks.changed();
  }

  /** Open the port and initialise; a failure takes the SIM out of rotation until retryAfterMs. */
  connect(): Promise<void> {
    return (this.connecting ??= this.doConnect().finally(() => (this.connecting = undefined)));
  }

  /** Is a balance read or a message read a whole interval late (orders kept the SIM busy)? */
  housekeepingOverdue(): boolean {
    return this.due().overdue;
  }

  private due(): { balance: boolean; sms: boolean; overdue: boolean } {
    const now = this.hooks.now();
    const balance = this.op.balance !== undefined && this.balanceDueAt > 0 && now >= this.balanceDueAt;
    const sms = this.op.sms !== undefined && now >= this.smsDueAt;
    const overdue = (balance && now >= this.balanceDueAt + this.policy.balanceEveryMs) || (sms && this.smsDueAt > 0 && now >= this.smsDueAt + this.policy.smsEveryMs);
    return { balance, sms, overdue };
  }

  /**
   * Work due while idle: reconnect a SIM whose time out is over, read the balance, read messages.
   * `mayWork`: no order is waiting for the SIM; when orders are waiting, only work a whole interval late is done.
   */
  async maintain(mayWork: boolean): Promise<void> {
    if (this.stopped) return;
    const now = this.hooks.now();
    const day = algiersDay(now);
    if (day !== this.status.day) {
      this.status.day = day;
      this.status.ordersToday = 0;
      this.hooks.changed();
    }
    if ((this.status.state === 'out' || this.status.state === 'gone') && this.status.retryAt !== null && now >= this.status.retryAt) {
      await this.connect();
      return;
    }
    if (this.task) return;
    const { balance: balanceDue, sms: smsDue, overdue } = this.due();
    if ((!balanceDue && !smsDue) || (!mayWork && !overdue)) return;
    if (!this.tryAcquire()) return;
    const work = (async () => {
      try {
        if (balanceDue) await this.readBalance();
        if (smsDue) await this.readMessages();
      } finally {
        this.release();
      }
    })();
    this.task = work;
    try {
      await work;
    } catch (err) {
      this.hooks.log.warn({ sim: this.name, err: (err as Error).message }, 'SIM housekeeping failed');
    } finally {
      this.task = undefined;
    }
  }

  /**
   * One top-up, the SIM already acquired. Checks the SIM and the network first (a failure there: nothing
   * dialled, `retryElsewhere`); then says the call is starting and dials the code, once.
   */
  async topUp(request: GatewayRequest, ctx: SendContext, template: string): Promise<SimTopUp> {
    const ch = this.ch;
    const notSent = (reason: string): SimTopUp => {
      this.countFailure(reason);
      return { outcome: { kind: 'NOT_SENT', reason: `SIM ${this.name}: ${reason}` }, retryElsewhere: true, dialled: false };
    };
    if (!ch || ch.closed) return notSent('the serial port is not open');
    try {
      const cpin = await ch.command('AT+CPIN?', STEP_MS);
      if (!cpin.ok || !cpin.lines.some((l) => /^\+CPIN:\s*READY/.test(l))) return notSent(`the SIM is not ready (${this.answerOf(cpin)})`);
      const reg = await ch.command('AT+CREG?', STEP_MS);
      if (!reg.ok || !reg.lines.some((l) => REGISTERED.test(l))) return notSent(`not registered on the network (${this.answerOf(reg)})`);
    } catch (err) {
      return notSent(`no answer before dialling: ${(err as Error).message}`);
    }
    // A dial whose answer could not come before the processor gives up would leave the order uncertain for nothing.
    if (ctx.signal.aborted || ctx.remainingMs() < this.op.ussdTimeoutMs + 1_000) {
      return { outcome: { kind: 'NOT_SENT', reason: `SIM ${this.name}: too little of the processor's time left to wait for an answer; not dialled`, retryInMs: 500 }, retryElsewhere: false, dialled: false };
    }
    if (!(await ctx.callStarting(this.name))) return { outcome: { kind: 'NOT_SENT', reason: 'the order was taken by another worker' }, retryElsewhere: false, dialled: false };

    // From here on the code may reach the network: one dial, and only a rule-read `+CUSD: 0` is definitive.
    const now = this.hooks.now();
    this.lastUsedAt = now;
    this.status.ordersToday++;
    const pin = this.sim.pin ?? '';
    const code = fillTemplate(template, { msisdn: request.mssidn, amount: String(request.amount), pin });
    const answer = await this.ussd(ch, code, ctx.signal);
    const outcome = this.read(answer, request);
    if (outcome.kind === 'FULFILLED' || outcome.kind === 'REFUNDED') this.status.failures = 0;
    else this.countFailure(outcome.kind === 'UNKNOWN' ? outcome.reason : 'not sent');
    this.hooks.changed();
    return { outcome, retryElsewhere: false, dialled: true };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.task?.catch(() => undefined);
    await this.connecting?.catch(() => undefined);
    this.status.state = 'stopped';
    this.status.reason = 'the gateway stopped';
    const ch = this.ch;
    this.ch = undefined;
    await ch?.close();
    this.hooks.changed();
  }

  private async doConnect(): Promise<void> {
    if (this.stopped) return;
    this.status.state = 'starting';
    this.status.retryAt = null;
    this.hooks.changed();
    const old = this.ch;
    this.ch = undefined; // before closing it: its close is not the modem disappearing
    await old?.close();
    let ch: AtChannel;
    try {
      ch = await AtChannel.open(this.sim.device, this.sim.baudRate);
    } catch (err) {
      this.takeOut('gone', (err as Error).message);
      return;
    }
    this.ch = ch;
    ch.onClose(() => {
      if (this.ch !== ch || this.stopped) return;
      this.takeOut('gone', `the modem disappeared (${this.sim.device} closed)`);
    });
    ch.onUnsolicited((line) => {
      if (line.startsWith('+CMTI:')) this.smsDueAt = 0; // a message came: read it when idle
      if (line.startsWith('+CUSD:') && !this.waiting) {
        // The late answer of a session given up on: never taken for another order's answer. More may
        // follow: the SIM stays quiet a while longer.
        const a = parseCusd(line);
        this.quietUntil = Math.max(this.quietUntil, this.hooks.now() + this.policy.quietAfterUnclearMs);
        if (a?.m === 1) this.cancelSession();
        this.hooks.log.warn({ sim: this.name, m: a?.m, text: this.mask(a?.text ?? line).slice(0, 200) }, 'a USSD answer came with no session waiting for it (a late answer); ignored');
      }
    });
    try {
      await this.initialise(ch);
    } catch (err) {
      const reason = err instanceof InitFailure || err instanceof AtNoAnswer ? err.message : `initialisation failed: ${(err as Error).message}`;
      if (this.ch === ch) this.ch = undefined; // before closing it: its close is not the modem disappearing
      this.takeOut(ch.closed ? 'gone' : 'out', reason);
      await ch.close();
      return;
    }
    if (this.stopped) return;
    this.status.state = 'ready';
    this.status.reason = null;
    this.status.failures = 0;
    this.alerted = undefined;
    this.hooks.log.info({ sim: this.name, device: this.sim.device, signal: this.status.signal, balance: this.status.balance }, 'SIM ready');
    this.hooks.changed();
  }

  private async initialise(ch: AtChannel): Promise<void> {
    let alive = false;
    for (let i = 0; i < 3 && !alive; i++) {
      try {
        alive = (await ch.command('AT', 1_500)).ok;
      } catch {
        // no answer yet: try again
      }
    }
    if (!alive) throw new InitFailure('no answer to AT');
    for (const cmd of ['ATE0', 'AT+CMEE=1', 'AT+CSCS="GSM"']) {
      const r = await ch.command(cmd, STEP_MS);
      if (!r.ok) throw new InitFailure(`${cmd} answered ${describeFinal(r.final)}`);
    }
    // A session left open (shahn stopped while a code was answered) is closed; no open session answers ERROR.
    await ch.command('AT+CUSD=2', STEP_MS).catch(() => undefined);
    // A call through this SIM still without its answer (shahn stopped while waiting): it may yet answer,
    // so the SIM dials nothing until it could not.
    const ago = await this.hooks.unansweredCallAgo(this.policy.quietAfterUnclearMs).catch((err: unknown) => {
      this.hooks.log.warn({ sim: this.name, err: (err as Error).message }, 'could not read the SIM\'s last call; waiting out the quiet time');
      return 0;
    });
    if (ago !== null) this.quietUntil = Math.max(this.quietUntil, this.hooks.now() + this.policy.quietAfterUnclearMs - ago);
    const pin = await ch.command('AT+CPIN?', STEP_MS);
    if (!pin.ok) throw new InitFailure(`AT+CPIN? answered ${describeFinal(pin.final)}`);
    const state = pin.lines.find((l) => l.startsWith('+CPIN:'))?.slice(6).trim();
    if (state !== 'READY') throw new InitFailure(`the SIM asks for ${state ?? 'something'} (remove the SIM's PIN lock before use)`);
    const reg = await ch.command('AT+CREG?', STEP_MS);
    if (!reg.ok || !reg.lines.some((l) => REGISTERED.test(l))) throw new InitFailure(`not registered on the network (${this.answerOf(reg)})`);
    await this.readSignal(ch);
    if (this.op.sms) {
      const r = await ch.command('AT+CMGF=1', STEP_MS);
      if (!r.ok) throw new InitFailure(`AT+CMGF=1 answered ${describeFinal(r.final)}`);
      this.smsDueAt = 0;
    }
    if (this.op.balance !== undefined) {
      const now = this.hooks.now();
      if (now >= this.quietUntil) {
        this.balanceDueAt = now + this.policy.balanceEveryMs;
        await this.readBalance(ch);
      } else {
        this.balanceDueAt = this.quietUntil; // read once the quiet time is over
      }
    }
  }

  private async readSignal(ch: AtChannel): Promise<void> {
    const csq = await ch.command('AT+CSQ', STEP_MS).catch(() => undefined);
    const m = csq?.lines.map((l) => /^\+CSQ:\s*(\d+)/.exec(l)).find(Boolean);
    if (m) this.status.signal = Number(m[1]);
  }

  /** Dial a USSD code and wait for its answer; a string says why there is none. Never dials twice. */
  private async ussd(ch: AtChannel, code: string, signal?: AbortSignal): Promise<CusdAnswer | string> {
    const timeoutMs = this.op.ussdTimeoutMs;
    if (signal?.aborted) return `the processor's timeout came before the dial; nothing was dialled`;
    this.waiting = true;
    let resolve!: (a: CusdAnswer | string) => void;
    const answered = new Promise<CusdAnswer | string>((r) => (resolve = r));
    const offLine = ch.onUnsolicited((line) => {
      if (line.startsWith('+CUSD:')) resolve(parseCusd(line) ?? `an unreadable answer: ${JSON.stringify(line.slice(0, 200))}`);
    });
    const offClose = ch.onClose(() => resolve('the modem disappeared (the serial port closed) before the answer'));
    // An unplugged modem's device node goes away; the port does not always say so while it waits.
    const watch = setInterval(() => {
      if (existsSync(this.sim.device)) return;
      resolve(`the modem disappeared (${this.sim.device} is gone) before the answer`);
      this.takeOut('gone', `the modem disappeared (${this.sim.device} is gone)`);
      void ch.close();
    }, 1_000);
    const timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
    const onAbort = () => resolve(`the processor's timeout came before the answer`);
    signal?.addEventListener('abort', onAbort, { once: true });
    // Written once. Some modems answer OK then +CUSD, some +CUSD then OK, some never OK.
    const dialCommand = `AT+CUSD=1,"${code}",15`;
    const dial = ch.command(dialCommand, timeoutMs).then(
      (r) => {
        if (!r.ok) resolve(`the modem answered the dial with ${describeFinal(r.final)}`);
        return true;
      },
      (err: Error) => {
        if (!(err instanceof AtNoAnswer) || ch.closed) resolve(`the dial failed: ${err.message}`);
        return true;
      },
    );
    let settle: NodeJS.Timeout | undefined;
    try {
      const answer = await answered;
      this.waiting = false;
      // Without a final answer the session may still answer: no new session until it could not.
      if (typeof answer === 'string' || answer.m === 1) this.quietUntil = Math.max(this.quietUntil, this.hooks.now() + this.policy.quietAfterUnclearMs);
      // The answer came: give the dial's final result a moment, then let the next command go.
      const settled = await Promise.race([dial, new Promise<boolean>((r) => (settle = setTimeout(() => r(false), 1_000)))]);
      if (!settled) ch.abandon(dialCommand);
      return answer;
    } finally {
      clearInterval(watch);
      clearTimeout(settle);
      this.waiting = false;
      offLine();
      offClose();
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** What a dial's answer means for the order (and the SIM's balance, last answer, and an open session). */
  private read(answer: CusdAnswer | string, request: GatewayRequest): GatewayOutcome {
    const now = this.hooks.now();
    const redact = (t: string) => this.mask(t);
    const trace = (fields: Record<string, unknown>) => ({ channel: this.name, detail: redact(JSON.stringify({ sim: this.name, at: new Date(now).toISOString(), ...fields })) });
    if (typeof answer === 'string') {
      this.cancelSession();
      return { kind: 'UNKNOWN', reason: `SIM ${this.name}: ${answer}; the code was dialled once and is never dialled again`, trace: trace({ answer: null, why: answer }) };
    }
    this.status.lastAnswer = redact(answer.text).slice(0, 300);
    this.status.lastAnswerAt = now;
    const seen = { m: answer.m, dcs: answer.dcs ?? null, raw: answer.raw ?? null, text: answer.text };
    if (answer.m !== 0) {
      const meaning = ['', 'the network wants more input (a menu)', 'the network ended the session', 'another local client answered', 'the operation is not supported', 'the network timed out'][answer.m] ?? `unknown status m=${answer.m}`;
      if (answer.m !== 2) this.cancelSession();
      return { kind: 'UNKNOWN', reason: `SIM ${this.name}: +CUSD: ${answer.m}, ${meaning}`, trace: trace({ ...seen, why: meaning }) };
    }
    // An answer that names phone numbers, none of them the order's, is about another transfer.
    const named = [...answer.text.matchAll(/(?<![0-9])(?:\+?213|0)[5-7][0-9]{8}(?![0-9])/g)].map((m) => localNumber(m[0]));
    if (named.length > 0 && !named.includes(localNumber(request.mssidn))) {
      const why = `the answer names ${[...new Set(named)].join(', ')}, not ${request.mssidn}`;
      return { kind: 'UNKNOWN', reason: `SIM ${this.name}: ${why}`, trace: trace({ ...seen, why }) };
    }
    const result = applyRules(this.op.rules, answer.text);
    if (result.outcome === 'UNKNOWN') {
      return { kind: 'UNKNOWN', reason: `SIM ${this.name}: ${result.why}: ${JSON.stringify(redact(answer.text).slice(0, 200))}`, trace: trace({ ...seen, why: result.why }) };
    }
    // A rule that reads the number or the amount from the answer must read the order's.
    const said = result.groups;
    const wrong =
      said?.msisdn !== undefined && localNumber(said.msisdn) !== localNumber(request.mssidn)
        ? `the answer's number ${said.msisdn} is not ${request.mssidn}`
        : said?.amount !== undefined && readAmount(said.amount) !== request.amount
          ? `the answer's amount ${said.amount} is not ${request.amount}`
          : undefined;
    if (wrong) return { kind: 'UNKNOWN', reason: `SIM ${this.name}: ${redact(wrong)}`, trace: trace({ ...seen, rule: result.rule, why: wrong }) };
    if (result.balance !== undefined) this.setBalance(result.balance, now, false);
    else if (result.outcome === 'FULFILLED' && this.status.balance !== null) this.setBalance(Math.round((this.status.balance - request.amount) * 100) / 100, now, true);
    const t = trace({ ...seen, rule: result.rule, outcome: result.outcome });
    if (result.outcome === 'FULFILLED') return { kind: 'FULFILLED', trace: t };
    return { kind: 'REFUNDED', refundMessage: result.refundMessage ?? MESSAGES.REFUNDED_AFTER_REVIEW, trace: t };
  }

  /** Close a USSD session that may still be open (AT+CUSD=2); its answer does not matter. */
  private cancelSession(): void {
    const ch = this.ch;
    if (!ch || ch.closed) return;
    ch.command('AT+CUSD=2', STEP_MS).catch(() => undefined);
  }

  private async readBalance(channel?: AtChannel): Promise<void> {
    const ch = channel ?? this.ch;
    if (!ch || ch.closed || this.op.balance === undefined) return;
    this.balanceDueAt = this.policy.balanceEveryMs > 0 ? this.hooks.now() + this.policy.balanceEveryMs : 0;
    const answer = await this.ussd(ch, this.op.balance);
    const now = this.hooks.now();
    if (typeof answer === 'string' || answer.m !== 0) {
      if (typeof answer !== 'string' && answer.m === 1) this.cancelSession();
      this.hooks.log.warn({ sim: this.name, answer: typeof answer === 'string' ? answer : `+CUSD: ${answer.m}` }, 'the balance code gave no balance');
      return;
    }
    this.status.lastAnswer = this.mask(answer.text).slice(0, 300);
    this.status.lastAnswerAt = now;
    const m = (this.op.balanceMatch ?? DEFAULT_BALANCE).exec(answer.text);
    const balance = readAmount(m?.groups?.balance);
    if (balance === undefined) {
      this.hooks.log.warn({ sim: this.name, text: this.mask(answer.text).slice(0, 200) }, 'no balance found in the balance code\'s answer (see balanceMatch)');
      return;
    }
    this.setBalance(balance, now, false);
  }

  private setBalance(balance: number, now: number, estimated: boolean): void {
    this.status.balance = balance;
    this.status.balanceEstimated = estimated;
    if (!estimated) this.status.balanceAt = now;
    const low = this.op.lowBalance;
    if (low !== undefined && balance < low && !this.lowAlerted) {
      this.lowAlerted = true;
      this.hooks.alert('SIM_LOW_BALANCE', { balance, threshold: low, estimated });
      this.hooks.log.warn({ alert: 'sim.low_balance', sim: this.name, balance, threshold: low }, `ALERT: SIM ${this.name}'s balance ${balance} DA is under ${low} DA`);
    } else if (low !== undefined && balance >= low) {
      this.lowAlerted = false;
    }
    this.hooks.changed();
  }

  private async readMessages(): Promise<void> {
    const ch = this.ch;
    const sms = this.op.sms;
    if (!ch || ch.closed || !sms) return;
    this.smsDueAt = this.hooks.now() + this.policy.smsEveryMs;
    const list = await ch.command('AT+CMGL="ALL"', 10_000);
    if (!list.ok) {
      this.hooks.log.warn({ sim: this.name, answer: describeFinal(list.final) }, 'could not list the SIM\'s messages');
      return;
    }
    for (const m of parseMessageList(list.lines)) {
      if (this.stopped) return;
      const key = `${m.index}|${m.sentAt}|${m.text}`;
      const trustedSender = sms.senders.some((x) => x.toLowerCase() === m.sender.trim().toLowerCase());
      const found = trustedSender ? sms.match.exec(m.text) : null;
      const amount = readAmount(found?.groups?.amount);
      const msisdn = found?.groups?.msisdn;
      const message: SimMessage = {
        sim: this.name,
        operator: this.operator,
        index: m.index,
        sender: m.sender,
        sentAt: m.sentAt,
        sentAgoMs: sentAgo(parseSmsTime(m.sentAt), this.hooks.now()),
        text: this.mask(m.text),
        trustedSender,
        confirmation: found && msisdn && amount !== undefined ? { msisdn: localNumber(msisdn), amount, outcome: sms.outcome, refundMessage: sms.refundMessage } : undefined,
        repeat: this.handedOn.has(key),
      };
      const handled = await this.hooks.message(message); // throws (store down): the message stays on the SIM for the next read
      if (this.handedOn.size > 1_000) this.handedOn.clear();
      this.handedOn.add(key);
      if (handled === 'keep') continue;
      const del = await ch.command(`AT+CMGD=${m.index}`, STEP_MS).catch((err: Error) => err);
      if (del instanceof Error || !del.ok) {
        this.hooks.log.warn({ sim: this.name, index: m.index, answer: del instanceof Error ? del.message : describeFinal(del.final) }, 'could not delete a handled message from the SIM (it is not handled twice)');
      } else {
        this.handedOn.delete(key);
      }
    }
  }

  /** A text with the code dialled, the transfer PIN (as digits or as UCS2 hex) and `*PIN#` hidden: for logs, the store and the console. */
  mask(text: string, code?: string): string {
    let t = code ? text.split(code).join('<code>') : text;
    const pin = this.sim.pin;
    if (pin) {
      t = t.replace(new RegExp(encodeUcs2(pin), 'gi'), '<pin>');
      t = t.replace(new RegExp(`(?<![0-9])${pin}(?![0-9])`, 'g'), '<pin>');
    }
    return t;
  }

  private countFailure(reason: string): void {
    this.status.failures++;
    if (this.status.failures >= this.policy.maxFailures && this.status.state === 'ready') {
      // Its port stays open until it is tried again (connect closes it and initialises afresh).
      this.takeOut('out', `${this.status.failures} orders failed in a row, the last: ${reason}`);
    }
    this.hooks.changed();
  }

  private takeOut(state: 'out' | 'gone', reason: string): void {
    if (this.stopped) return;
    this.status.state = state;
    this.status.reason = reason;
    this.status.retryAt = this.hooks.now() + this.policy.retryAfterMs;
    this.hooks.changed();
    if (this.alerted === state) return; // tried again and failed again: already alerted
    this.alerted = state;
    const topic = state === 'gone' ? 'SIM_GONE' : 'SIM_OUT_OF_ROTATION';
    this.hooks.alert(topic, { reason, retryAt: new Date(this.status.retryAt).toISOString() });
    this.hooks.log.error({ alert: topic === 'SIM_GONE' ? 'sim.gone' : 'sim.out_of_rotation', sim: this.name, device: this.sim.device, reason }, `ALERT: SIM ${this.name} is out of rotation: ${reason}`);
  }

  private answerOf(r: AtResult): string {
    return r.ok ? r.lines.join(' ') || 'OK' : describeFinal(r.final);
  }
}

/** A balance in an answer without a balanceMatch: the first amount followed by DA, DZD or دج. */
const DEFAULT_BALANCE = /(?<balance>\d[\d\s.,]*?)\s*(?:DA|DZD|دج)/;

/** The messages of an AT+CMGL listing in text mode: a `+CMGL:` header line, then the text. */
export function parseMessageList(lines: readonly string[]): { index: number; sender: string; sentAt: string; text: string }[] {
  const out: { index: number; sender: string; sentAt: string; text: string }[] = [];
  let current: { index: number; sender: string; sentAt: string; text: string[] } | undefined;
  const flush = () => {
    if (current) out.push({ index: current.index, sender: current.sender, sentAt: current.sentAt, text: decodeSmsText(current.text.join('\n')) });
  };
  for (const line of lines) {
    const h = /^\+CMGL:\s*(\d+)\s*,\s*"[^"]*"\s*,\s*"([^"]*)"\s*,[^,]*,\s*"([^"]*)"/.exec(line);
    if (h) {
      flush();
      current = { index: Number(h[1]), sender: h[2]!, sentAt: h[3]!, text: [] };
    } else if (current) {
      current.text.push(line);
    }
  }
  flush();
  return out;
}
