/**
 * A fake GSM modem with a retailer SIM, speaking AT commands on one end of a pseudo-terminal pair
 * (pty-pair.ts), for everyone without hardware: the tests, the benchmark and `shahn modem fake`.
 *
 * It answers what the gateway sends (AT, ATE0, AT+CMEE, AT+CSCS, AT+CPIN?, AT+CREG?, AT+CSQ, ATI,
 * AT+CGMM, AT+COPS?, AT+CMGF, AT+CMGL, AT+CMGD, AT+CUSD) and keeps a balance: a top-up code
 * (`*<n>*<msisdn>*<amount>*<pin>#`) moves it, the balance code reads it. What a dialled code answers
 * is its profile (one for the modem, or chosen per number), so every path of the gateway can be
 * driven: success, refusal, a menu, Arabic in UCS2, errors, a missing OK, silence, network timeouts,
 * a modem that disappears mid-answer, garbled bytes, a success followed by advice, a late SMS.
 * Every `AT+CUSD=1` it receives is counted per number: the tests' proof that nothing is dialled twice.
 */
import { SerialPort } from 'serialport';
import { encodeUcs2 } from './ussd.js';

export const FAKE_PROFILES = [
  'success',
  'refusal',
  'menu',
  'arabic',
  'dial-error',
  'no-ok',
  'blocking',
  'silent',
  'network-timeout',
  'ended',
  'vanish',
  'garbled',
  'advice',
  'late-sms',
  'late-answer',
  'other-number',
  'other-amount',
  'multiline',
  'echo',
] as const;
/**
 * What a dialled top-up code answers:
 * - success: OK, then `+CUSD: 0,"Succes …",15` after the latency (a refusal when the balance is short)
 * - refusal: `+CUSD: 0,"Echec: solde insuffisant …",15`
 * - menu: `+CUSD: 1,"1: Confirmer 2: Annuler",15` (more input wanted)
 * - arabic: the success text in Arabic, UCS2 hex, dcs 72
 * - dial-error: `+CME ERROR: 30` to the AT+CUSD=1 line itself
 * - no-ok: the `+CUSD: 0` success answer and never an OK
 * - blocking: no OK until the answer: the answer, then OK
 * - silent: OK, then nothing
 * - network-timeout: `+CUSD: 5`; ended: `+CUSD: 2`
 * - vanish: OK, then the modem disappears (its pty pair is killed) before the answer
 * - garbled: OK, then bytes that are no answer
 * - advice: a success followed by advice that mentions an insufficient balance
 * - late-sms: silence, then a confirmation SMS (+CMTI) after the latency
 * - late-answer: OK, then the success answer after twice the latency (after a gateway's timeout)
 * - other-number: a success answer that names another number than the one dialled
 * - other-amount: a success answer that names ten times the amount dialled
 * - multiline: the success answer with its text broken over three lines
 * - echo: the success answer after the code dialled, echoed whole (its PIN too)
 */
export type FakeProfile = (typeof FAKE_PROFILES)[number];

/** What AT+CPIN? answers: READY, or the CME error of a missing, locked or busy SIM. */
export type FakeSimState = 'READY' | 'NOT_INSERTED' | 'PIN_REQUIRED' | 'BUSY' | 'DEVICE_BUSY';

export interface FakeDial {
  code: string;
  msisdn: string | undefined;
  amount: number | undefined;
  at: number;
}

export interface FakeModemOptions {
  /** The pty end the fake modem opens. */
  device: string;
  /** What AT+COPS? names. */
  operatorName?: string;
  /** The SIM's balance (DZD). */
  balance?: number;
  /** The transfer PIN the top-up code must end with (none: any). */
  pin?: string;
  /** The balance code. */
  balanceCode?: string;
  /** How long the network takes to answer a code (ms): a number or [min, max]. */
  latencyMs?: number | [number, number];
  /** The profile of every dial, or one chosen per dial. */
  profile?: FakeProfile | ((dial: FakeDial) => FakeProfile);
  signal?: number;
  /** Called when the modem is to vanish (the owner kills the pty pair). */
  onVanish?: () => void;
}

const CME: Record<Exclude<FakeSimState, 'READY'>, number> = { NOT_INSERTED: 10, PIN_REQUIRED: 11, BUSY: 14, DEVICE_BUSY: 515 };
const TOPUP = /^\*\d+\*(\d{9,13})\*(\d+)(?:\*(\d+))?#$/;

interface StoredSms {
  index: number;
  sender: string;
  text: string;
  at: Date;
  read: boolean;
}

export class FakeModem {
  readonly dials: FakeDial[] = [];
  /** Every line received, the top-up codes' PINs masked. */
  readonly received: string[] = [];
  cancels = 0;
  balance: number;
  simState: FakeSimState = 'READY';
  registered = true;
  signal: number;
  /** While set, every command gets no answer at all (a hung modem). */
  mute = false;
  /** How long the network takes to answer a code (ms): a number or [min, max]. */
  latencyMs: number | [number, number];
  private echo = true;
  private textMode = false;
  private buffer = '';
  private readonly sms: StoredSms[] = [];
  private nextSmsIndex = 1;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  private constructor(
    private readonly port: SerialPort,
    private readonly options: FakeModemOptions,
  ) {
    this.balance = options.balance ?? 100_000;
    this.signal = options.signal ?? 21;
    this.latencyMs = options.latencyMs ?? 50;
    port.on('data', (d: Buffer) => this.onData(d));
    port.on('close', () => (this.closed = true));
    port.on('error', () => (this.closed = true));
  }

  /** Open the modem's end of a pty pair. */
  static open(options: FakeModemOptions): Promise<FakeModem> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path: options.device, baudRate: 115200, autoOpen: false });
      port.open((err) => (err ? reject(err) : resolve(new FakeModem(port, options))));
    });
  }

  /** How many times a top-up code for this number was dialled. */
  dialsFor(msisdn: string): number {
    return this.dials.filter((d) => d.msisdn === msisdn).length;
  }

  /** A message arrives on the SIM (stored, announced with +CMTI); `at`: the network's time stamp, now by default. */
  deliverSms(text: string, sender = '7711', at = new Date()): void {
    const index = this.nextSmsIndex++;
    this.sms.push({ index, sender, text, at, read: false });
    this.write(`\r\n+CMTI: "SM",${index}\r\n`);
  }

  /** Messages still stored on the SIM. */
  get storedSms(): number {
    return this.sms.length;
  }

  close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    return new Promise((resolve) => {
      if (this.closed || !this.port.isOpen) return resolve();
      this.port.close(() => resolve());
    });
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(t);
  }

  private latency(): number {
    const l = this.latencyMs;
    if (typeof l === 'number') return l;
    return Math.round(l[0] + Math.random() * (l[1] - l[0]));
  }

  private write(text: string): void {
    if (!this.closed) this.port.write(text, 'latin1');
  }

  private reply(...lines: string[]): void {
    this.write(lines.map((l) => `\r\n${l}\r\n`).join(''));
  }

  private onData(d: Buffer): void {
    this.buffer += d.toString('latin1');
    let i: number;
    while ((i = this.buffer.search(/[\r\n]/)) >= 0) {
      const line = this.buffer.slice(0, i).trim();
      this.buffer = this.buffer.slice(i + 1);
      if (line) this.onCommand(line);
    }
  }

  private onCommand(line: string): void {
    this.received.push(line.replace(/^(AT\+CUSD=1,"\*\d+\*\d+\*\d+\*)\d+#/, '$1****#'));
    if (this.mute) return;
    if (this.echo) this.write(`${line}\r`);
    const cmd = line.toUpperCase();
    const simError = this.simState === 'READY' ? undefined : `+CME ERROR: ${CME[this.simState]}`;
    if (cmd === 'AT') return this.reply('OK');
    if (cmd === 'ATE0') {
      this.echo = false;
      return this.reply('OK');
    }
    if (cmd === 'ATI') return this.reply('Manufacturer: shahn', 'Model: FAKE-MODEM', 'Revision: 1.0', 'OK');
    if (cmd === 'AT+CGMM') return this.reply('FAKE-MODEM', 'OK');
    if (cmd.startsWith('AT+CMEE=') || cmd.startsWith('AT+CSCS=')) return this.reply('OK');
    if (cmd === 'AT+CPIN?') {
      if (this.simState === 'PIN_REQUIRED') return this.reply('+CPIN: SIM PIN', 'OK');
      return simError ? this.reply(simError) : this.reply('+CPIN: READY', 'OK');
    }
    if (cmd === 'AT+CREG?') return this.reply(`+CREG: 0,${this.registered ? 1 : 0}`, 'OK');
    if (cmd === 'AT+CSQ') return this.reply(`+CSQ: ${this.signal},99`, 'OK');
    if (cmd === 'AT+COPS?') return this.reply(`+COPS: 0,0,"${this.options.operatorName ?? 'Djezzy'}"`, 'OK');
    if (cmd === 'AT+CMGF=1') {
      this.textMode = true;
      return this.reply('OK');
    }
    if (cmd.startsWith('AT+CMGL')) return this.listSms();
    if (cmd.startsWith('AT+CMGD=')) {
      const index = Number(cmd.slice('AT+CMGD='.length).split(',')[0]);
      const at = this.sms.findIndex((s) => s.index === index);
      if (at >= 0) this.sms.splice(at, 1);
      return this.reply('OK');
    }
    if (cmd === 'AT+CUSD=2') {
      this.cancels++;
      return this.reply('OK');
    }
    const ussd = /^AT\+CUSD=1,"([^"]*)"(?:,\d+)?$/i.exec(line);
    if (ussd) return this.dial(ussd[1]!);
    this.reply('ERROR');
  }

  private listSms(): void {
    if (!this.textMode) return this.reply('+CMS ERROR: 302');
    const lines: string[] = [];
    for (const s of this.sms) {
      const t = s.at;
      const p = (n: number) => String(n).padStart(2, '0');
      const scts = `${p(t.getUTCFullYear() % 100)}/${p(t.getUTCMonth() + 1)}/${p(t.getUTCDate())},${p(t.getUTCHours())}:${p(t.getUTCMinutes())}:${p(t.getUTCSeconds())}+00`;
      lines.push(`+CMGL: ${s.index},"${s.read ? 'REC READ' : 'REC UNREAD'}","${s.sender}",,"${scts}"`, s.text);
      s.read = true;
    }
    this.reply(...lines, 'OK');
  }

  private dial(code: string): void {
    const m = TOPUP.exec(code);
    const masked = m?.[3] ? `${code.slice(0, code.length - m[3].length - 1)}****#` : code;
    const dial: FakeDial = { code: masked, msisdn: m?.[1], amount: m ? Number(m[2]) : undefined, at: Date.now() };
    if (code === (this.options.balanceCode ?? '*710#')) {
      this.reply('OK');
      this.later(Math.min(this.latency(), 200), () => this.reply(`+CUSD: 0,"Votre solde est de ${this.balance.toFixed(2)} DA",15`));
      return;
    }
    if (!m) {
      this.reply('OK');
      this.later(this.latency(), () => this.reply('+CUSD: 4'));
      return;
    }
    this.dials.push(dial);
    const profile = typeof this.options.profile === 'function' ? this.options.profile(dial) : (this.options.profile ?? 'success');
    const amount = dial.amount!;
    const msisdn = dial.msisdn!;
    const wrongPin = this.options.pin !== undefined && m[3] !== this.options.pin;
    const short = this.balance < amount;
    const pay = () => {
      this.balance = Math.round((this.balance - amount) * 100) / 100;
    };
    // "transféré" as a modem passes GSM 7-bit text through under AT+CSCS="GSM": é is the byte 0x05.
    const success = () => `Succes: vous avez transf\u0005r\u0005 ${amount} DA au ${msisdn}. Nouveau solde: ${this.balance.toFixed(2)} DA`;
    const refusal = () => `Echec: solde insuffisant. Votre solde est de ${this.balance.toFixed(2)} DA`;
    const cusd0 = (text: string) => `+CUSD: 0,"${text}",15`;
    const definitive = (): string => {
      if (wrongPin) return cusd0('Echec: code PIN incorrect');
      if (short) return cusd0(refusal());
      pay();
      return cusd0(success());
    };
    const after = (fn: () => void) => this.later(this.latency(), fn);
    switch (profile) {
      case 'success':
        this.reply('OK');
        return after(() => this.reply(definitive()));
      case 'refusal':
        this.reply('OK');
        return after(() => this.reply(cusd0(refusal())));
      case 'menu':
        this.reply('OK');
        return after(() => this.reply('+CUSD: 1,"1: Confirmer le transfert 2: Annuler",15'));
      case 'arabic':
        this.reply('OK');
        return after(() => {
          if (wrongPin || short) return this.reply(`+CUSD: 0,"${encodeUcs2('فشل: الرصيد غير كاف')}",72`);
          pay();
          this.reply(`+CUSD: 0,"${encodeUcs2(`تم تحويل ${amount} دج إلى ${msisdn}. رصيدك الجديد ${this.balance.toFixed(2)} دج`)}",72`);
        });
      case 'dial-error':
        return this.reply('+CME ERROR: 30');
      case 'no-ok':
        return after(() => this.reply(definitive()));
      case 'blocking':
        return after(() => this.reply(definitive(), 'OK'));
      case 'silent':
        return this.reply('OK');
      case 'network-timeout':
        this.reply('OK');
        return after(() => this.reply('+CUSD: 5'));
      case 'ended':
        this.reply('OK');
        return after(() => this.reply('+CUSD: 2'));
      case 'vanish':
        this.reply('OK');
        return after(() => {
          pay(); // the network did it; the answer never came back
          this.write('\r\n+CUSD: 0,"Suc');
          this.options.onVanish?.();
        });
      case 'garbled':
        this.reply('OK');
        return after(() => this.write('\r\n\xff\xfe+C\x00U\x9cSD: 0,"\x1b\x7f\x80\r\n\x00\x00\r\n'));
      case 'advice':
        this.reply('OK');
        return after(() => {
          pay();
          this.reply(cusd0(`${success()}. Conseil: en cas de solde insuffisant, rechargez votre compte. Ne communiquez jamais votre code.`));
        });
      case 'late-answer':
        this.reply('OK');
        return this.later(2 * this.latency(), () => this.reply(definitive()));
      case 'other-number':
        this.reply('OK');
        return after(() => this.reply(cusd0(`Succes: vous avez transfere ${amount} DA au 0699999999. Nouveau solde: ${this.balance.toFixed(2)} DA`)));
      case 'other-amount':
        this.reply('OK');
        return after(() => this.reply(cusd0(`Succes: vous avez transfere ${amount * 10} DA au ${msisdn}. Nouveau solde: ${this.balance.toFixed(2)} DA`)));
      case 'multiline':
        this.reply('OK');
        return after(() => {
          const text = definitive();
          const cut = text.indexOf('. Nouveau');
          this.reply(cut < 0 ? text : `${text.slice(0, cut + 1)}\r\n${text.slice(cut + 2, cut + 17)}\r\n${text.slice(cut + 17)}`);
        });
      case 'echo':
        this.reply('OK');
        return after(() => {
          const text = definitive();
          this.reply(text.replace(/^\+CUSD: 0,"/, `+CUSD: 0,"Demande ${code} recue. `));
        });
      case 'late-sms':
        this.reply('OK');
        return after(() => {
          pay();
          this.deliverSms(`Vous avez transfere ${amount} DA au ${msisdn}. Nouveau solde: ${this.balance.toFixed(2)} DA`);
        });
    }
  }
}
