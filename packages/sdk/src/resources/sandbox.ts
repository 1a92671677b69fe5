import type { HttpCore } from '../internal/request.js';
import type { SandboxClock } from '../types.js';

/**
 * The sandbox clock of the key's merchant (shahn's extension to the v3 API; SANDBOX keys only, a
 * PRODUCTION key gets 403 `SANDBOX_ONLY`). Moving it moves the merchant's sandbox orders
 * through their timelines, and their webhooks, without waiting: a test suite sends, advances, checks.
 */
export class Sandbox {
  constructor(private readonly http: HttpCore) {}

  /** GET /v3/sandbox/clock: the sandbox's time and how far ahead of real time it is. */
  async clock(options: { signal?: AbortSignal } = {}): Promise<SandboxClock> {
    return (await this.http.request<SandboxClock>({ method: 'GET', path: '/v3/sandbox/clock', retryConnectionErrors: true, ...options })).data;
  }

  /**
   * POST /v3/sandbox/clock/advance: forward by `seconds` (1 s to 30 days). Not retried after a lost
   * connection (it might have moved the clock): read `clock()` before advancing again.
   */
  async advance(seconds: number, options: { signal?: AbortSignal } = {}): Promise<SandboxClock> {
    return (await this.http.request<SandboxClock>({ method: 'POST', path: '/v3/sandbox/clock/advance', body: { seconds }, retryConnectionErrors: false, ...options })).data;
  }

  /** POST /v3/sandbox/clock/reset: back to real time. */
  async reset(options: { signal?: AbortSignal } = {}): Promise<SandboxClock> {
    return (await this.http.request<SandboxClock>({ method: 'POST', path: '/v3/sandbox/clock/reset', retryConnectionErrors: true, ...options })).data;
  }
}
