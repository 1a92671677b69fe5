/**
 * The shahn SDK: a typed client of the OneClickDz Flexy API v3 (mobile), for shahn and the public
 * API alike. `new Shahn({ apiKey, baseUrl, timeoutMs, maxRetries })`, with SHAHN_API_KEY and
 * SHAHN_BASE_URL as fallbacks.
 */
import { ShahnError } from './errors.js';
import { HttpCore } from './internal/request.js';
import { Account } from './resources/account.js';
import { Mobile } from './resources/mobile.js';
import { Sandbox } from './resources/sandbox.js';
import type { KeyInfo, Ping } from './types.js';

export const DEFAULT_BASE_URL = 'https://api.oneclickdz.com';

export interface ShahnOptions {
  /** The X-Access-Token; default process.env.SHAHN_API_KEY. */
  apiKey?: string;
  /** Default process.env.SHAHN_BASE_URL, else https://api.oneclickdz.com. */
  baseUrl?: string;
  /** Per attempt; default 30 s. */
  timeoutMs?: number;
  /** Retries where safe (reads; 429 and 503; a send only after check-ref); default 2. */
  maxRetries?: number;
  /** A fetch implementation (tests, proxies); default globalThis.fetch. */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
}

function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env?.[name];
}

export class Shahn {
  readonly account: Account;
  readonly mobile: Mobile;
  /** shahn's sandbox clock (SANDBOX keys; not part of the public API). */
  readonly sandbox: Sandbox;
  readonly baseUrl: string;
  private readonly http: HttpCore;

  constructor(options: ShahnOptions = {}) {
    const apiKey = options.apiKey ?? env('SHAHN_API_KEY');
    if (!apiKey) throw new ShahnError('an apiKey is required (option apiKey or SHAHN_API_KEY)');
    this.baseUrl = options.baseUrl ?? env('SHAHN_BASE_URL') ?? DEFAULT_BASE_URL;
    const maxRetries = options.maxRetries ?? 2;
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new ShahnError('maxRetries must be a whole number ≥ 0');
    if (!(timeoutMs > 0)) throw new ShahnError('timeoutMs must be > 0');
    this.http = new HttpCore({
      apiKey,
      baseUrl: this.baseUrl,
      timeoutMs,
      maxRetries,
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
      ...(options.headers ? { headers: options.headers } : {}),
    });
    this.account = new Account(this.http);
    this.mobile = new Mobile(this.http);
    this.sandbox = new Sandbox(this.http);
  }

  /** GET /v3/ping */
  async ping(options: { signal?: AbortSignal } = {}): Promise<Ping> {
    return (await this.http.request<Ping>({ method: 'GET', path: '/v3/ping', retryConnectionErrors: true, ...options })).data;
  }

  /** GET /v3/validate */
  async validate(options: { signal?: AbortSignal } = {}): Promise<KeyInfo> {
    return (await this.http.request<KeyInfo>({ method: 'GET', path: '/v3/validate', retryConnectionErrors: true, ...options })).data;
  }
}
