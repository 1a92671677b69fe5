/**
 * What a modem gateway reads and parses: its settings in SHAHN_GATEWAYS (every mistake named by its
 * field, a PIN never in a message), USSD answers (+CUSD lines, GSM text, UCS2 hex in Arabic), the
 * answer rules, amounts as operators write them, SMS listings.
 * Stores: SQLite only: nothing here touches a store (the gateway over both stores is modem-gateway.test.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewaysConfigError, parseGatewaysConfig } from '../src/gateways/gateways-config.js';
import { parseModemSettings, templateFor } from '../src/gateways/modem/modem-config.js';
import { localNumber, parseMessageList, parseSmsTime } from '../src/gateways/modem/sim.js';
import { applyRules, decodeSmsText, decodeUssdText, encodeUcs2, fillTemplate, parseCusd, readAmount } from '../src/gateways/modem/ussd.js';

const PIN = '48213';
const djezzy = { send: '*770*{msisdn}*{amount}*{pin}#', rules: [{ match: '^Succes', outcome: 'FULFILLED' }] };
const parse = (spec: Record<string, unknown>, env: Record<string, string> = { DJ1_PIN: PIN }) =>
  parseModemSettings({ type: 'modem', ...spec }, 'gateways.pool', (field, what) => {
    throw new GatewaysConfigError(`${field} ${what}`);
  }, (name) => env[name]);
const oneSim = (sim: Record<string, unknown> = {}) => [{ name: 'dj-1', device: '/dev/ttyUSB0', operator: 'Djezzy', pinEnv: 'DJ1_PIN', ...sim }];

describe('modem gateway settings', () => {
  it('a whole configuration is read, with its defaults', () => {
    const s = parse({
      operators: {
        Djezzy: {
          ...djezzy,
          balance: '*710#',
          plans: { FACTURE_DJEZZY: '*771*{msisdn}*{amount}*{pin}#' },
          lowBalance: 2000,
          sms: { senders: [' 7711 ', 'Djezzy'], match: '(?<amount>[0-9]+) DA au (?<msisdn>0[0-9]{9})', outcome: 'FULFILLED' },
        },
      },
      sims: oneSim({ baudRate: 9600 }),
    });
    expect(s).toMatchObject({ type: 'modem', maxFailures: 3, retryAfterMs: 600_000, balanceEveryMs: 900_000, smsEveryMs: 30_000, quietAfterUnclearMs: 60_000 });
    expect(s.operators.Djezzy!.sms!.senders).toEqual(['7711', 'Djezzy']);
    // The top-up code sends the flexy plans (PREPAID_) unless sendPlans says which; other plans need their own code.
    const op = s.operators.Djezzy!;
    expect([templateFor(op, 'PREPAID_DJEZZY'), templateFor(op, 'FACTURE_DJEZZY'), templateFor(op, 'MIX500_DJEZZY')]).toEqual([djezzy.send, '*771*{msisdn}*{amount}*{pin}#', undefined]);
    const only = parse({ operators: { Djezzy: { ...djezzy, sendPlans: ['MIX500_DJEZZY'] } }, sims: oneSim() }).operators.Djezzy!;
    expect([templateFor(only, 'PREPAID_DJEZZY'), templateFor(only, 'MIX500_DJEZZY')]).toEqual([undefined, djezzy.send]);
    expect(s.sims).toEqual([{ name: 'dj-1', device: '/dev/ttyUSB0', operator: 'Djezzy', baudRate: 9600, pin: PIN }]);
    expect(s.operators.Djezzy).toMatchObject({ ussdTimeoutMs: 30_000, balance: '*710#', lowBalance: 2000, plans: { FACTURE_DJEZZY: '*771*{msisdn}*{amount}*{pin}#' } });
    expect(s.operators.Djezzy!.sms!.windowMs).toBe(1_800_000);
  });

  it('the PIN from a file; never the PIN, from the environment or a file, in an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shahn-pin-'));
    writeFileSync(join(dir, 'pin'), `${PIN}\n`);
    expect(parse({ operators: { Djezzy: djezzy }, sims: oneSim({ pinEnv: undefined, pinFile: join(dir, 'pin') }) }).sims[0]!.pin).toBe(PIN);
    writeFileSync(join(dir, 'bad'), `${PIN}x\n`);
    const errors = [
      () => parse({ operators: { Djezzy: djezzy }, sims: oneSim({ pinEnv: undefined, pinFile: join(dir, 'bad') }) }),
      () => parse({ operators: { Djezzy: djezzy }, sims: oneSim() }, { DJ1_PIN: `${PIN}-` }),
      () => parse({ operators: { Djezzy: djezzy }, sims: oneSim() }, {}),
      () => parse({ operators: { Djezzy: djezzy }, sims: oneSim({ pinEnv: undefined, pinFile: join(dir, 'missing') }) }),
    ];
    const messages = errors.map((f) => {
      try {
        f();
      } catch (err) {
        return (err as Error).message;
      }
      return 'no error';
    });
    expect(messages).toEqual([
      'gateways.pool.sims[0].pinFile must hold a PIN of 4-8 digits',
      'gateways.pool.sims[0].pinEnv must hold a PIN of 4-8 digits',
      'gateways.pool.sims[0].pinEnv the environment variable DJ1_PIN is not set',
      'gateways.pool.sims[0].pinFile cannot be read (ENOENT)',
    ]);
    for (const m of messages) expect(m).not.toContain(PIN);
  });

  it('every mistake is named by its field', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ operators: {}, sims: oneSim() }, /gateways\.pool\.operators must name at least one operator/],
      [{ operators: { Djezzy: djezzy }, sims: oneSim(), pool: 1 }, /gateways\.pool\.pool is not a setting of a modem gateway/],
      [{ operators: { Djezzy: { ...djezzy, send: '*770*{msisdn}#' } }, sims: oneSim() }, /operators\.Djezzy\.send must be a USSD template with \{msisdn\} and \{amount\}/],
      [{ operators: { Djezzy: { ...djezzy, send: '*770*{msisdn}*{amount}*{code}#' } }, sims: oneSim() }, /operators\.Djezzy\.send has unknown placeholders: \{code\}/],
      [{ operators: { Djezzy: { ...djezzy, send: '*770*{msisdn}*{amount}"#' } }, sims: oneSim() }, /operators\.Djezzy\.send must not contain a double quote/],
      [{ operators: { Djezzy: { ...djezzy, rules: [] } }, sims: oneSim() }, /operators\.Djezzy\.rules must be a list of at least one rule/],
      [{ operators: { Djezzy: { ...djezzy, rules: [{ match: '(', outcome: 'FULFILLED' }] } }, sims: oneSim() }, /operators\.Djezzy\.rules\[0\]\.match is not a valid regular expression/],
      [{ operators: { Djezzy: { ...djezzy, rules: [{ match: 'x', outcome: 'UNKNOWN' }] } }, sims: oneSim() }, /rules\[0\]\.outcome must be FULFILLED or REFUNDED \(an answer no rule matches is UNKNOWN\)/],
      [{ operators: { Djezzy: { ...djezzy, rules: [{ match: 'x', outcome: 'FULFILLED', refundMessage: 'y' }] } }, sims: oneSim() }, /rules\[0\]\.refundMessage is a text, for a REFUNDED rule only/],
      [{ operators: { Djezzy: { ...djezzy, ussdTimeoutMs: 10 } }, sims: oneSim() }, /operators\.Djezzy\.ussdTimeoutMs must be a whole number ≥ 1000/],
      [{ operators: { Djezzy: { ...djezzy, balanceMatch: 'Solde (\\d+)' } }, sims: oneSim() }, /balanceMatch must have the named group \(\?<balance>…\)/],
      [{ operators: { Djezzy: { ...djezzy, sms: { senders: ['7711'], match: '(?<msisdn>0\\d+)', outcome: 'FULFILLED' } } }, sims: oneSim() }, /sms\.match must have the named groups \(\?<msisdn>…\) and \(\?<amount>…\)/],
      [{ operators: { Djezzy: { ...djezzy, sms: { match: '(?<msisdn>0\\d+) (?<amount>\\d+)', outcome: 'FULFILLED' } } }, sims: oneSim() }, /sms\.senders must list the senders whose messages are confirmations .*anyone can send a SIM a message/],
      [{ operators: { Djezzy: { ...djezzy, sendPlans: 'PREPAID_DJEZZY' } }, sims: oneSim() }, /operators\.Djezzy\.sendPlans must be a list of plan codes/],
      [{ operators: { Djezzy: djezzy }, sims: oneSim(), quietAfterUnclearMs: -1 }, /gateways\.pool\.quietAfterUnclearMs must be a whole number ≥ 0/],
      [{ operators: { Djezzy: djezzy }, sims: [] }, /gateways\.pool\.sims must be a list of at least one SIM/],
      [{ operators: { Djezzy: djezzy }, sims: oneSim({ operator: 'Mobilis' }) }, /sims\[0\]\.operator must be one of this gateway's operators \(Djezzy\)/],
      [{ operators: { Djezzy: djezzy }, sims: [...oneSim(), ...oneSim({ device: '/dev/ttyUSB1' })] }, /sims\[1\]\.name "dj-1" names two SIMs/],
      [{ operators: { Djezzy: djezzy }, sims: [...oneSim(), ...oneSim({ name: 'dj-2' })] }, /sims\[1\]\.device \/dev\/ttyUSB0 is given to two SIMs/],
      [{ operators: { Djezzy: djezzy }, sims: oneSim({ pinEnv: undefined }) }, /sims\[0\] needs pinEnv or pinFile: the Djezzy code has \{pin\}/],
      [{ operators: { Djezzy: djezzy }, sims: oneSim({ pinFile: '/x' }) }, /sims\[0\] takes pinEnv or pinFile, not both/],
      [{ operators: { Djezzy: djezzy }, sims: oneSim({ pin: PIN }) }, /sims\[0\]\.pin is not a setting of a SIM/],
    ];
    for (const [spec, message] of bad) expect(() => parse(spec), JSON.stringify(spec)).toThrow(message);
    // Through the gateways file, with the file named.
    expect(() => parseGatewaysConfig({ gateways: { pool: { type: 'modem', operators: { Djezzy: djezzy }, sims: oneSim() } }, routes: [] }, 'SHAHN_GATEWAYS (g.json)', () => undefined)).toThrow(
      'SHAHN_GATEWAYS (g.json): gateways.pool.sims[0].pinEnv the environment variable DJ1_PIN is not set',
    );
  });
});

describe('USSD answers', () => {
  it('+CUSD lines: the status, the text and its coding', () => {
    expect(parseCusd('+CUSD: 0,"Succes: 100 DA",15')).toEqual({ m: 0, raw: 'Succes: 100 DA', dcs: 15, text: 'Succes: 100 DA' });
    expect(parseCusd('+CUSD: 2')).toEqual({ m: 2, raw: undefined, dcs: undefined, text: '' });
    expect(parseCusd('+CUSD: 1,"1: Oui 2: Non"')).toMatchObject({ m: 1, text: '1: Oui 2: Non', dcs: undefined });
    expect(parseCusd('+CUSD: 0,"say ""hi""",15')!.text).toBe('say "hi"');
    expect(parseCusd('+CUSD: x')).toBeUndefined();
    expect(parseCusd('OK')).toBeUndefined();
  });

  it('GSM 7-bit text as a modem passes it through: its letters outside ASCII become themselves', () => {
    expect(decodeUssdText('Succ\u0004s: transf\u0005r\u0005 \u007f 0770000001. Solde: 100 DA', 15)).toBe('Succès: transféré à 0770000001. Solde: 100 DA');
    expect(decodeUssdText('Cout: 5\u001be, x\u001bZ', 15)).toBe('Cout: 5€, x\u001bZ'); // the escape to the extension table
    expect(decodeUssdText('Solde: 100 DA {promo}', 72)).toBe('Solde: 100 DA {promo}'); // not GSM: as sent
    expect(parseCusd('+CUSD: 0,"Re\u0009u",15')!.text).toBe('ReÇu');
    expect(decodeUssdText('user@example $5', 15)).toBe('user@example $5');
  });

  it('UCS2 hex (dcs 72, and 17 after its language prefix) decodes to Arabic; other text stays as sent', () => {
    const arabic = 'تم تحويل 100 دج';
    expect(encodeUcs2('تم')).toBe('062A0645');
    expect(decodeUssdText(encodeUcs2(arabic), 72)).toBe(arabic);
    expect(decodeUssdText(encodeUcs2(`ar${arabic}`), 17)).toBe(arabic);
    expect(parseCusd(`+CUSD: 0,"${encodeUcs2(arabic)}",72`)!.text).toBe(arabic);
    expect(decodeUssdText('0041', 15)).toBe('0041');
    expect(decodeUssdText('not hex', 72)).toBe('not hex');
    expect(decodeSmsText(encodeUcs2('رصيدك 500 دج'))).toBe('رصيدك 500 دج');
    expect(decodeSmsText('Vous avez transfere 100 DA')).toBe('Vous avez transfere 100 DA');
    expect(decodeSmsText('00000001')).toBe('00000001'); // hex, but not text
  });

  it('rules: the matching rules decide when they agree; none, or rules that disagree, is UNKNOWN; a balance is read', () => {
    const rules = [
      { match: /^Succes.*solde:? (?<balance>[0-9 .,]+) DA/, outcome: 'FULFILLED' as const },
      { match: /^Succes/, outcome: 'FULFILLED' as const },
      { match: /insuffisant/, outcome: 'REFUNDED' as const, refundMessage: 'r' },
    ];
    expect(applyRules(rules, 'Succes: envoye. Nouveau solde: 1 234,50 DA')).toEqual({ outcome: 'FULFILLED', rule: 0, balance: 1234.5, groups: { balance: '1 234,50' } });
    expect(applyRules(rules, 'Succes: envoye')).toEqual({ outcome: 'FULFILLED', rule: 1, groups: undefined });
    expect(applyRules(rules, 'Echec: solde insuffisant')).toEqual({ outcome: 'REFUNDED', rule: 2, refundMessage: 'r', groups: undefined });
    // The number and the amount a rule reads are handed on, to be checked against the order's.
    expect(applyRules([{ match: /(?<amount>\d+) DA au (?<msisdn>0\d{9})/, outcome: 'FULFILLED' }], 'Succes: 500 DA au 0770000001')).toMatchObject({ groups: { amount: '500', msisdn: '0770000001' } });
    expect(applyRules(rules, 'Succes. En cas de solde insuffisant, rechargez')).toEqual({ outcome: 'UNKNOWN', why: 'the answer matches rule 1 (FULFILLED) and rule 2 (REFUNDED)' });
    expect(applyRules(rules, 'Service indisponible')).toEqual({ outcome: 'UNKNOWN', why: 'no rule matches the answer' });
  });

  it('amounts as operators write them; templates; numbers in SMS; AT+CMGL listings', () => {
    expect([readAmount('1 234,50'), readAmount('1234.5'), readAmount('1.234,50'), readAmount('1,234'), readAmount('abc'), readAmount(undefined)]).toEqual([1234.5, 1234.5, 1234.5, 1234, undefined, undefined]);
    expect(fillTemplate('*770*{msisdn}*{amount}*{pin}#', { msisdn: '0770000001', amount: '500', pin: '1234' })).toBe('*770*0770000001*500*1234#');
    expect([localNumber('+213770000001'), localNumber('00213770000001'), localNumber('213770000001'), localNumber('0770000001')]).toEqual(['0770000001', '0770000001', '0770000001', '0770000001']);
    expect(
      parseMessageList(['+CMGL: 1,"REC UNREAD","7711",,"26/12/03,10:00:00+04"', 'Vous avez transfere 100 DA', 'au 0770000001', '+CMGL: 4,"REC READ","+213770000009",,"26/12/03,10:01:00+04"', encodeUcs2('تم')]),
    ).toEqual([
      { index: 1, sender: '7711', sentAt: '26/12/03,10:00:00+04', text: 'Vous avez transfere 100 DA\nau 0770000001' },
      { index: 4, sender: '+213770000009', sentAt: '26/12/03,10:01:00+04', text: 'تم' },
    ]);
    // The network's time stamp, its zone in quarter hours: +04 is UTC+1.
    expect(parseSmsTime('26/12/03,10:00:00+04')).toBe(Date.parse('2026-12-03T09:00:00Z'));
    expect(parseSmsTime('26/12/03,10:00:00-08')).toBe(Date.parse('2026-12-03T12:00:00Z'));
    expect([parseSmsTime('26/13/03,10:00:00+04'), parseSmsTime('yesterday')]).toEqual([undefined, undefined]);
  });
});
