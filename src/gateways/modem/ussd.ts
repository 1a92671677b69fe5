/**
 * USSD as GSM modems speak it: the `+CUSD: <m>[,"<text>",<dcs>]` answer, its text decoded (GSM 7-bit
 * as the modem gives it under AT+CSCS="GSM", its letters outside ASCII mapped; UCS2 as hex, four hex digits per character, for dcs 72,
 * and for dcs 17 after its two-character language prefix), the templates of the codes dialled, and
 * the answer rules that turn a decoded answer into an outcome.
 */

/** `m` of +CUSD: 0 done, 1 more input needed (a menu), 2 ended by the network, 3 answered by another local client, 4 not supported, 5 network timeout. */
export interface CusdAnswer {
  m: number;
  /** The text as the modem sent it (hex for UCS2). */
  raw: string | undefined;
  dcs: number | undefined;
  /** The decoded text. */
  text: string;
}

/** Parse a `+CUSD:` line; undefined when it is not one. */
export function parseCusd(line: string): CusdAnswer | undefined {
  const m = /^\+CUSD:\s*(\d+)(?:\s*,\s*"((?:[^"]|"")*)"(?:\s*,\s*(\d+))?)?\s*$/.exec(line.trim());
  if (!m) return undefined;
  const raw = m[2];
  const dcs = m[3] === undefined ? undefined : Number(m[3]);
  return { m: Number(m[1]), raw, dcs, text: raw === undefined ? '' : decodeUssdText(raw, dcs) };
}

const HEX = /^(?:[0-9A-Fa-f]{4})+$/;

/**
 * The GSM 7-bit default alphabet where it differs from ASCII in the bytes a modem passes through
 * under AT+CSCS="GSM": the control range and 0x7B-0x7F carry letters (é is 0x05, à is 0x7F).
 * The printable ASCII range is left as it is: modems print '@' and '$' as ASCII.
 */
const GSM_LOW = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ';
const GSM_HIGH: Record<number, string> = { 0x7b: 'ä', 0x7c: 'ö', 0x7d: 'ñ', 0x7e: 'ü', 0x7f: 'à' };
const GSM_EXT: Record<string, string> = { e: '€', '(': '{', ')': '}', '/': '\\', '<': '[', '>': ']', '=': '~', '@': '|', '\u0014': '^' };

function decodeGsmBytes(raw: string): string {
  const isGsmOnly = (c: number) => (c < 0x20 && c !== 0x0a && c !== 0x0d) || (c >= 0x7b && c <= 0x7f);
  let plain = true;
  for (let i = 0; i < raw.length && plain; i++) plain = !isGsmOnly(raw.charCodeAt(i));
  if (plain) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x1b && i + 1 < raw.length && GSM_EXT[raw[i + 1]!] !== undefined) {
      out += GSM_EXT[raw[++i]!];
    } else if (c < 0x20 && c !== 0x0a && c !== 0x0d) {
      out += GSM_LOW[c];
    } else {
      out += GSM_HIGH[c] ?? raw[i];
    }
  }
  return out;
}

/** The text of a USSD answer, decoded by its data coding scheme. */
export function decodeUssdText(raw: string, dcs: number | undefined): string {
  if ((dcs === 72 || dcs === 17 || dcs === 8) && HEX.test(raw)) {
    let text = '';
    for (let i = 0; i < raw.length; i += 4) text += String.fromCharCode(parseInt(raw.slice(i, i + 4), 16));
    // dcs 17: the message is preceded by a two-character language indication.
    return dcs === 17 ? text.slice(2) : text;
  }
  const unquoted = raw.replace(/""/g, '"');
  return dcs === undefined || dcs === 15 || dcs === 0 ? decodeGsmBytes(unquoted) : unquoted;
}

/**
 * An SMS text as AT+CMGL printed it in text mode: UCS2 messages (Arabic) come as hex, four digits per
 * character, and are decoded when the whole text is hex that decodes to printable characters.
 */
export function decodeSmsText(text: string): string {
  if (text.length < 8 || !HEX.test(text)) return text;
  const decoded = decodeUssdText(text, 8);
  for (const ch of decoded) {
    const c = ch.charCodeAt(0);
    if ((c < 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) || c === 0xfffe || c === 0xffff) return text;
  }
  return decoded;
}

/** UCS2 as a modem sends it (tests and the fake modem). */
export function encodeUcs2(text: string): string {
  return [...text].map((c) => c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')).join('');
}

/** `{msisdn}`, `{amount}`, `{pin}` and other `{name}`s of a code template filled in. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{([a-z]+)\}/g, (whole, name: string) => values[name] ?? whole);
}

export interface AnswerRule {
  /**
   * A JavaScript regular expression tried on the decoded answer. Named groups: `balance` reads the SIM's
   * balance (DZD); `msisdn` and `amount`, when the rule has them, must be the order's, or the answer is UNKNOWN.
   */
  match: RegExp;
  outcome: 'FULFILLED' | 'REFUNDED';
  /** REFUNDED: the customer's Arabic message. */
  refundMessage?: string;
}

/** What a matching rule read from the answer: named groups `balance`, `msisdn`, `amount`. */
export type RuleGroups = Record<string, string | undefined> | undefined;

export type RuleResult =
  | { outcome: 'FULFILLED'; balance?: number; rule: number; groups: RuleGroups }
  | { outcome: 'REFUNDED'; refundMessage: string | undefined; balance?: number; rule: number; groups: RuleGroups }
  | { outcome: 'UNKNOWN'; why: string };

/**
 * Every rule is tried on the answer. Rules that match and agree decide (the first of them gives the
 * refund message and the balance); none matching is UNKNOWN, and so is an answer that matches rules
 * with different outcomes (a success followed by advice about an insufficient balance is neither a
 * refusal nor, for sure, a success: support decides, and nothing is dialled again or refunded).
 */
export function applyRules(rules: readonly AnswerRule[], text: string): RuleResult {
  let first: { rule: number; match: RegExpExecArray } | undefined;
  for (let i = 0; i < rules.length; i++) {
    const m = rules[i]!.match.exec(text);
    if (!m) continue;
    if (!first) {
      first = { rule: i, match: m };
      continue;
    }
    const a = rules[first.rule]!;
    if (rules[i]!.outcome !== a.outcome) {
      return { outcome: 'UNKNOWN', why: `the answer matches rule ${first.rule} (${a.outcome}) and rule ${i} (${rules[i]!.outcome})` };
    }
  }
  if (!first) return { outcome: 'UNKNOWN', why: 'no rule matches the answer' };
  const r = rules[first.rule]!;
  const balance = readAmount(first.match.groups?.balance);
  const extra = { groups: first.match.groups, ...(balance === undefined ? {} : { balance }) };
  return r.outcome === 'FULFILLED' ? { outcome: 'FULFILLED', rule: first.rule, ...extra } : { outcome: 'REFUNDED', refundMessage: r.refundMessage, rule: first.rule, ...extra };
}

/** A DZD amount as operators write it: `1 234,50`, `1234.5`, `1.234,50`. */
export function readAmount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  let t = text.replace(/[\s\u00a0]/g, '');
  if (/,\d{1,2}$/.test(t)) t = t.replace(/\./g, '').replace(',', '.');
  else t = t.replace(/,/g, '');
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}
