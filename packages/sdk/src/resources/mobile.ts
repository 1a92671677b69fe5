import { randomUUID } from 'node:crypto';
import { APIError, ConnectionError, DuplicatedRefError, NotFoundError, RateLimitedError, sendMayHaveActed, ShahnError, WaitTimeoutError } from '../errors.js';
import { PagePromise, type Page } from '../internal/page-promise.js';
import { isRetryableStatusError, retryAfterOf, retryDelayMs, sleep, type HttpCore } from '../internal/request.js';
import { isFinalStatus, type ListQuery, type Plans, type SendParams, type SendResult, type Topup } from '../types.js';
import { pinnedQuery } from './pinned-query.js';

export interface WaitOptions {
  /** Between checks; the guide's 5 s by default. */
  intervalMs?: number;
  /** Checks before giving up (WaitTimeoutError); 60 by default (5 minutes at 5 s). */
  maxAttempts?: number;
  signal?: AbortSignal;
  /** Called with every status change (the first check included). */
  onStatus?: (topup: Topup) => void;
}

/** A ref for a send that has none: the SDK always sends one, so a lost reply can be checked. */
export function generateRef(): string {
  return `sdk-${Date.now().toString(36)}-${randomUUID().replace(/-/g, '').slice(0, 16)}`;
}

export class Mobile {
  constructor(private readonly http: HttpCore) {}

  /** GET /v3/mobile/plans */
  async plans(options: { signal?: AbortSignal } = {}): Promise<Plans> {
    return (await this.http.request<Plans>({ method: 'GET', path: '/v3/mobile/plans', retryConnectionErrors: true, ...options })).data;
  }

  /**
   * POST /v3/mobile/send. Always carries a `ref` (generated when absent). When the reply is lost
   * (connection failure or timeout), it asks check-ref before trying again, so a top-up is never sent
   * twice blindly: found → that top-up; not found → sent again with the same ref (the server refuses a
   * second order with it). The same holds for any 5xx and for an answer that is not the API's envelope
   * (a proxy's error page): the server may have acted before failing. A 429 is retried after its delay.
   */
  async send(params: SendParams, options: { signal?: AbortSignal } = {}): Promise<SendResult> {
    const body: SendParams = { ...params, ref: params.ref ?? generateRef() };
    const ref = body.ref as string;
    let maybeCreated = false;
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.http.options.maxRetries;
      try {
        return (await this.http.once<SendResult>({ method: 'POST', path: '/v3/mobile/send', body, retryConnectionErrors: false, ...options })).data;
      } catch (err) {
        if (options.signal?.aborted) throw err;
        if (err instanceof DuplicatedRefError && maybeCreated) return this.sentByRef(ref, options.signal);
        if (!sendMayHaveActed(err)) {
          // A refusal the server gave before acting (a contract 4xx); 429 comes from the rate limiter, before the send.
          if (err instanceof RateLimitedError && !last) {
            await sleep(retryDelayMs(attempt, retryAfterOf(err)), options.signal);
            continue;
          }
          throw err;
        }
        // The reply was lost, or is a 5xx or not the API's envelope: the top-up may exist. Ask before anything else.
        maybeCreated = true;
        const existing = await this.findByRef(ref, options.signal);
        if (existing) return existing;
        if (last) throw err;
        await sleep(retryDelayMs(attempt, err instanceof APIError ? retryAfterOf(err) : undefined), options.signal);
      }
    }
  }

  /** check-ref after a lost reply: the top-up, undefined when it surely does not exist; throws when unknowable. */
  private async findByRef(ref: string, signal?: AbortSignal): Promise<SendResult | undefined> {
    try {
      const t = await this.checkRef(ref, signal ? { signal } : {});
      return { topupId: t._id, topupRef: t.ref };
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  private async sentByRef(ref: string, signal?: AbortSignal): Promise<SendResult> {
    const found = await this.findByRef(ref, signal);
    if (!found) throw new ShahnError(`the server says ref ${ref} is in use but check-ref does not find it`);
    return found;
  }

  /** GET /v3/mobile/check-id/{id} */
  async checkId(id: string, options: { signal?: AbortSignal } = {}): Promise<Topup> {
    return (await this.http.request<Topup>({ method: 'GET', path: `/v3/mobile/check-id/${encodeURIComponent(id)}`, retryConnectionErrors: true, ...options })).data;
  }

  /** GET /v3/mobile/check-ref/{ref} */
  async checkRef(ref: string, options: { signal?: AbortSignal } = {}): Promise<Topup> {
    return (await this.http.request<Topup>({ method: 'GET', path: `/v3/mobile/check-ref/${encodeURIComponent(ref)}`, retryConnectionErrors: true, ...options })).data;
  }

  /** GET /v3/mobile/list: await for one page, or `for await` over every top-up. */
  list(query: ListQuery = {}): PagePromise<Topup> {
    return new PagePromise(
      async (page, pinned) =>
        (await this.http.request<Page<Topup>>({ method: 'GET', path: '/v3/mobile/list', query: pinnedQuery(query, page, pinned), retryConnectionErrors: true })).data,
      query.page ?? 1,
    );
  }

  /**
   * The guide's polling loop: check every `intervalMs` until FULFILLED, REFUNDED or UNKNOWN_ERROR.
   * A check that fails on the network, a 429 or a 503 counts as an attempt and the loop goes on;
   * other errors (a wrong key, an unknown id) end it. Never treat UNKNOWN_ERROR as a refund.
   */
  async waitForFinal(id: string, options: WaitOptions = {}): Promise<Topup> {
    const intervalMs = options.intervalMs ?? 5000;
    const maxAttempts = options.maxAttempts ?? 60;
    let last: Topup | undefined;
    for (let i = 0; i < maxAttempts; i++) {
      try {
        const t = await this.checkId(id, options.signal ? { signal: options.signal } : {});
        if (last?.status !== t.status) options.onStatus?.(t);
        last = t;
        if (isFinalStatus(t.status)) return t;
      } catch (err) {
        if (options.signal?.aborted) throw err;
        if (!(err instanceof ConnectionError) && !isRetryableStatusError(err)) throw err;
      }
      if (i < maxAttempts - 1) await sleep(intervalMs, options.signal);
    }
    throw new WaitTimeoutError(id, last?.status, maxAttempts);
  }
}
