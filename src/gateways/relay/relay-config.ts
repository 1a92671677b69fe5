/**
 * The settings of a `relay` gateway in SHAHN_GATEWAYS: an upstream provider that speaks the v3
 * contract (OneClickDz itself, or another shahn), reached with the reseller's own key.
 *
 *   { "type": "relay", "baseUrl": "https://api.oneclickdz.com", "apiKeyEnv": "SHAHN_UPSTREAM_KEY",
 *     "plans": { "PREPAID_DJEZZY": "PREPAID_DJEZZY" }, "requestTimeoutMs": 15000,
 *     "shortBalanceWaitMs": 1800000, "lowBalance": 20000 }
 *
 * The key comes from an environment variable (`apiKeyEnv`) or a file (`apiKeyFile`), never from the
 * JSON file itself; it is never written to the store, a log line or an error.
 */
import { readSecretSetting } from '../secret-setting.js';

export interface RelayGatewaySettings {
  type: 'relay';
  /** The upstream's address (https://…; http:// for loopback and tests). */
  baseUrl: string;
  /** The upstream key, read at start. */
  apiKey: string;
  /** A SANDBOX upstream key is refused unless this is set (tests, trials). */
  allowSandbox: boolean;
  /** Local plan code → the upstream's plan code, where they differ. */
  plans: Record<string, string>;
  /** One upstream request's timeout (ms). */
  requestTimeoutMs: number;
  /** The first status check after the upstream took the order (ms). */
  firstCheckMs: number;
  /** Checks every this while the upstream order is younger than 30 s (ms); then `slowCheckMs`. */
  checkEveryMs: number;
  slowCheckMs: number;
  /** How long an order waits PENDING while the upstream balance is short, from its creation, before it is REFUNDED (ms). */
  shortBalanceWaitMs: number;
  /** The upstream balance is read this often (ms). */
  balanceEveryMs: number;
  /** An upstream balance under this (DZD) raises an alert. */
  lowBalance: number | undefined;
  /** The upstream's /v3/ping is read this often (ms). */
  pingEveryMs: number;
  /** Uncertain relayed orders are checked upstream this often (ms), for `followDays` after their call. */
  followEveryMs: number;
  followDays: number;
  /** Reconciliation with the upstream runs this often (ms; 0: never by itself), over the orders of that interval. */
  reconcileEveryMs: number;
}

/** The upstream ref of a local order: derived from its id, so that a repeated send is refused upstream. */
export function relayRef(orderId: string): string {
  return `shahn.${orderId}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Check and read a relay gateway's settings; `fail(field, what)` throws; `secret(name)` reads an environment variable. */
export function parseRelaySettings(spec: Record<string, unknown>, at: string, fail: (field: string, what: string) => never, secret: (name: string) => string | undefined): RelayGatewaySettings {
  const known = [
    'type', 'baseUrl', 'apiKeyEnv', 'apiKeyFile', 'allowSandbox', 'plans', 'requestTimeoutMs', 'firstCheckMs', 'checkEveryMs', 'slowCheckMs',
    'shortBalanceWaitMs', 'balanceEveryMs', 'lowBalance', 'pingEveryMs', 'followEveryMs', 'followDays', 'reconcileEveryMs',
  ];
  for (const k of Object.keys(spec)) if (!known.includes(k)) fail(`${at}.${k}`, `is not a setting of a relay gateway (${known.join(', ')})`);
  const num = (field: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = spec[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return fail(`${at}.${field}`, `must be a whole number from ${min} to ${max}`);
    return v;
  };
  let url: URL;
  try {
    if (typeof spec.baseUrl !== 'string') throw new Error('missing');
    url = new URL(spec.baseUrl);
  } catch {
    return fail(`${at}.baseUrl`, 'must be the upstream\'s address (https://api.oneclickdz.com)');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`${at}.baseUrl`, 'must be an https:// address');
  if (url.username || url.password || url.search || url.hash) fail(`${at}.baseUrl`, 'must be a plain address, without credentials, query or fragment');
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) fail(`${at}.baseUrl`, 'must be https:// (http:// only to a loopback address)');
  const { value: apiKey, field } = readSecretSetting(spec, at, 'apiKey', fail, secret);
  if (apiKey === undefined) return fail(at, 'needs apiKeyEnv or apiKeyFile: where the upstream key is (never the key itself)');
  if ([...apiKey].some((c) => c.charCodeAt(0) <= 0x20)) fail(field, 'must hold one key (no spaces or line breaks)');
  if (spec.allowSandbox !== undefined && typeof spec.allowSandbox !== 'boolean') fail(`${at}.allowSandbox`, 'must be true or false');
  const plans: Record<string, string> = {};
  if (spec.plans !== undefined) {
    if (!isObject(spec.plans)) fail(`${at}.plans`, 'must map local plan codes to the upstream\'s plan codes');
    for (const [local, up] of Object.entries(spec.plans as Record<string, unknown>)) {
      if (typeof up !== 'string' || up === '') fail(`${at}.plans.${local}`, 'must be the upstream\'s plan code');
      plans[local] = up as string;
    }
  }
  if (spec.lowBalance !== undefined && (typeof spec.lowBalance !== 'number' || spec.lowBalance < 0)) fail(`${at}.lowBalance`, 'must be an amount of DZD');
  return {
    type: 'relay',
    baseUrl: url.toString().replace(/\/$/, ''),
    apiKey,
    allowSandbox: spec.allowSandbox === true,
    plans,
    requestTimeoutMs: num('requestTimeoutMs', 15_000, 100, 120_000),
    firstCheckMs: num('firstCheckMs', 2_000, 10, 60_000),
    checkEveryMs: num('checkEveryMs', 3_000, 10, 60_000),
    slowCheckMs: num('slowCheckMs', 10_000, 10, 600_000),
    shortBalanceWaitMs: num('shortBalanceWaitMs', 30 * 60_000, 0, 7 * 86_400_000),
    balanceEveryMs: num('balanceEveryMs', 60_000, 100, 86_400_000),
    lowBalance: spec.lowBalance as number | undefined,
    pingEveryMs: num('pingEveryMs', 15_000, 100, 3_600_000),
    followEveryMs: num('followEveryMs', 60_000, 100, 86_400_000),
    followDays: num('followDays', 3, 1, 60),
    reconcileEveryMs: num('reconcileEveryMs', 86_400_000, 0, 30 * 86_400_000),
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
