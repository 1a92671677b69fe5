/** The HTTP core: envelope parsing, errors, timeouts, retries with backoff and jitter where safe. */
import { APIError, ConnectionError, makeAPIError, RateLimitedError, ServiceUnavailableError, TimeoutError } from '../errors.js';

export interface ClientOptions {
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
  maxRetries: number;
  fetch: typeof fetch;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

export interface RequestOptions {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Reads may be retried on connection failures, timeouts, 429 and 503; writes only on 429 and 503. */
  retryConnectionErrors: boolean;
  signal?: AbortSignal;
}

export interface Envelope<T> {
  data: T;
  requestId: string | undefined;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exponential backoff (0.5 s, 1 s, 2 s … at most 8 s) with ±25 % jitter; a Retry-After wins. */
export function retryDelayMs(attempt: number, retryAfterSeconds?: number): number {
  if (retryAfterSeconds !== undefined && Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0) {
    return Math.min(retryAfterSeconds, 60) * 1000;
  }
  const base = Math.min(8000, 500 * 2 ** attempt);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

function retryAfterOf(err: APIError): number | undefined {
  const d = err.details?.retryAfter;
  return typeof d === 'number' ? d : undefined;
}

export function isRetryableStatusError(err: unknown): err is APIError {
  return err instanceof RateLimitedError || err instanceof ServiceUnavailableError;
}

export class HttpCore {
  constructor(readonly options: ClientOptions) {}

  url(path: string, query?: RequestOptions['query']): string {
    const u = new URL(this.options.baseUrl.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** One attempt: a parsed envelope, or a typed error. */
  async once<T>(req: RequestOptions): Promise<Envelope<T>> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await this.options.fetch(this.url(req.path, req.query), {
        method: req.method,
        headers: {
          'X-Access-Token': this.options.apiKey,
          Accept: 'application/json',
          ...(req.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...this.options.headers,
        },
        ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
        signal,
      });
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason;
      if (timeout.aborted) throw new TimeoutError(`no answer from ${req.method} ${req.path} within ${this.options.timeoutMs} ms`, err);
      throw new ConnectionError(`${req.method} ${req.path} failed: ${(err as Error).message}`, err);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason;
      if (timeout.aborted) throw new TimeoutError(`the answer to ${req.method} ${req.path} did not arrive within ${this.options.timeoutMs} ms`, err);
      throw new ConnectionError(`the answer to ${req.method} ${req.path} was cut off: ${(err as Error).message}`, err);
    }
    let body: { success?: boolean; data?: T; error?: { code?: string; message?: string; details?: Record<string, unknown> }; requestId?: string } | undefined;
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = undefined;
    }
    const requestId = body?.requestId ?? res.headers.get('x-request-id') ?? undefined;
    if (res.ok && body?.success === true && body.data !== undefined) return { data: body.data, requestId };
    const err = makeAPIError(res.status, body?.error?.code, body?.error?.message ?? (body ? undefined : `HTTP ${res.status} (not JSON)`), requestId, body?.error?.details);
    if (err instanceof RateLimitedError && err.details?.retryAfter === undefined) {
      const header = Number(res.headers.get('retry-after'));
      if (Number.isFinite(header)) (err as { details: Record<string, unknown> | undefined }).details = { ...err.details, retryAfter: header };
    }
    throw err;
  }

  /** With retries where safe. */
  async request<T>(req: RequestOptions): Promise<Envelope<T>> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once<T>(req);
      } catch (err) {
        const last = attempt >= this.options.maxRetries;
        if (last || req.signal?.aborted) throw err;
        if (isRetryableStatusError(err)) {
          await sleep(retryDelayMs(attempt, retryAfterOf(err)), req.signal);
          continue;
        }
        if (req.retryConnectionErrors && err instanceof ConnectionError) {
          await sleep(retryDelayMs(attempt), req.signal);
          continue;
        }
        throw err;
      }
    }
  }
}

export { retryAfterOf };
