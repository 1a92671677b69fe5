/**
 * Support alerts, the outbox's `alert` messages (written in the same transaction as the UNKNOWN_ERROR
 * or the contradicting answer): a POST of the alert's JSON to SHAHN_ALERT_URL, retried with
 * exponential backoff until a 2xx. Without a URL, the log line written at the transition is the alert
 * and the message is marked delivered.
 */
import type { Log } from '../lib/log.js';
import { OutboxDispatcher, type OutboxDispatcherDeps, type OutboxHandler } from './outbox-dispatcher.js';

export interface AlertDispatcherOptions {
  url: string | undefined;
  /** First retry delay; doubles each attempt up to maxBackoffMs. */
  retryBaseMs: number;
  maxBackoffMs: number;
  pollMs: number;
  requestTimeoutMs: number;
}

export function alertHandler(deps: { logger: Log; fetch?: typeof fetch }, options: AlertDispatcherOptions): OutboxHandler {
  return {
    kind: 'alert',
    leaseMs: options.requestTimeoutMs + 60_000,
    async deliver(alert) {
      if (!options.url) return;
      const res = await (deps.fetch ?? fetch)(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: alert.id, kind: alert.topic, ...alert.payload }),
        signal: AbortSignal.timeout(options.requestTimeoutMs),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    },
    retryDelayMs: (attempts) => Math.min(options.maxBackoffMs, options.retryBaseMs * 2 ** attempts),
    onFailure(alert, err, retryInMs) {
      deps.logger.warn({ alertId: alert.id, orderId: alert.subject, attempt: alert.attempts + 1, retryInMs, err: err.message }, 'alert POST failed; will retry');
    },
  };
}

/** A dispatcher of the outbox's support alerts (what `serve` and `worker` run). */
export class AlertDispatcher extends OutboxDispatcher {
  constructor(deps: OutboxDispatcherDeps & { fetch?: typeof fetch }, options: AlertDispatcherOptions) {
    super(deps, [alertHandler(deps, options)], { pollMs: options.pollMs });
  }
}
