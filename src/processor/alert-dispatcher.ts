/**
 * Delivers support alerts from the outbox (written in the same transaction as the UNKNOWN_ERROR):
 * a POST of the alert's JSON to SHAHN_ALERT_URL, retried with exponential backoff until a 2xx.
 * Without a URL, the log line written at the transition is the alert and the outbox row is marked delivered.
 */
import type { Log } from '../lib/log.js';
import type { Clock } from '../lib/clock.js';
import type { Store } from '../store/store.js';

export interface AlertDispatcherOptions {
  url: string | undefined;
  /** First retry delay; doubles each attempt up to maxBackoffMs. */
  retryBaseMs: number;
  maxBackoffMs: number;
  pollMs: number;
  requestTimeoutMs: number;
}

export class AlertDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly deps: { store: Store; clock: Clock; logger: Log; fetch?: typeof fetch },
    private readonly options: AlertDispatcherOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.options.pollMs);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Deliver what is due now (one pass at a time). */
  kick(): void {
    this.running ??= this.deliverDue()
      .catch((err: unknown) => {
        this.deps.logger.error({ err }, 'alert delivery pass failed');
        return 0;
      })
      .finally(() => {
        this.running = undefined;
      });
  }

  /** One pass; returns how many alerts were delivered. */
  async deliverDue(): Promise<number> {
    const { store, clock, logger } = this.deps;
    // Claimed: every `serve` and `worker` runs a dispatcher, and an alert must be POSTed by one of them at a time.
    const due = await store.claimDueAlerts(clock.now(), 50, this.options.requestTimeoutMs + 60_000);
    let delivered = 0;
    for (const alert of due) {
      if (!this.options.url) {
        await store.markAlertDelivered(alert.id, clock.now());
        delivered++;
        continue;
      }
      try {
        const res = await (this.deps.fetch ?? fetch)(this.options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id: alert.id, kind: alert.kind, ...alert.payload }),
          signal: AbortSignal.timeout(this.options.requestTimeoutMs),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        await store.markAlertDelivered(alert.id, clock.now());
        delivered++;
      } catch (err) {
        const backoff = Math.min(this.options.maxBackoffMs, this.options.retryBaseMs * 2 ** alert.attempts);
        await store.markAlertFailed(alert.id, clock.now() + backoff, (err as Error).message);
        logger.warn({ alertId: alert.id, orderId: alert.orderId, attempt: alert.attempts + 1, retryInMs: backoff, err: (err as Error).message }, 'alert POST failed; will retry');
      }
    }
    return delivered;
  }
}
