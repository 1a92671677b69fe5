/**
 * Delivers the transactional outbox: messages written in the same transaction as the change that
 * caused them. Each kind of message has a handler (support alerts: alert-dispatcher.ts). A pass
 * claims the due messages of each kind (a claim moves them out of reach for the handler's lease, so
 * the dispatchers of several `serve` and `worker` processes deliver a message once, not once each),
 * hands each to its handler, and marks it delivered, or failed with the next attempt's time. A
 * dispatcher that dies mid-delivery leaves its claimed messages to be taken again when the lease is
 * over: at least once, never lost.
 */
import type { Clock } from '../lib/clock.js';
import type { Log } from '../lib/log.js';
import type { OutboxMessage, Store } from '../store/store.js';

export interface OutboxHandler {
  readonly kind: OutboxMessage['kind'];
  /** How long a claimed message is out of other dispatchers' reach (longer than a delivery takes). */
  readonly leaseMs: number;
  /** Deliver one message; a throw means "try again later". */
  deliver(message: OutboxMessage): Promise<void>;
  /** The wait before the next attempt, after `attempts` failed ones. */
  retryDelayMs(attempts: number): number;
  /** Log a failed attempt (the handler knows what to say). */
  onFailure?(message: OutboxMessage, err: Error, retryInMs: number): void;
}

export interface OutboxDispatcherDeps {
  store: Store;
  clock: Clock;
  logger: Log;
}

export class OutboxDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    protected readonly deps: OutboxDispatcherDeps,
    private readonly handlers: readonly OutboxHandler[],
    private readonly options: { pollMs: number; batch?: number },
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
        this.deps.logger.error({ err }, 'outbox delivery pass failed');
        return 0;
      })
      .finally(() => {
        this.running = undefined;
      });
  }

  /** One pass over every kind; returns how many messages were delivered. */
  async deliverDue(): Promise<number> {
    const { store, clock } = this.deps;
    let delivered = 0;
    for (const handler of this.handlers) {
      const due = await store.outbox.claimDue(handler.kind, clock.now(), this.options.batch ?? 50, handler.leaseMs);
      for (const message of due) {
        try {
          await handler.deliver(message);
          await store.outbox.markDelivered(message.id, clock.now());
          delivered++;
        } catch (err) {
          const wait = handler.retryDelayMs(message.attempts);
          await store.outbox.markFailed(message.id, clock.now() + wait, (err as Error).message);
          handler.onFailure?.(message, err as Error, wait);
        }
      }
    }
    return delivered;
  }
}
