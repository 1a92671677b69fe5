/**
 * The production side of a process: the order processor (sending through the gateway router) and the
 * outbox dispatcher (support alerts), in `serve` and `worker` alike.
 */
import type { Log } from '../lib/log.js';
import type { Config } from '../config.js';
import type { Deps } from '../domain/deps.js';
import type { Gateway } from '../gateways/gateway.js';
import { AlertDispatcher } from '../processor/alert-dispatcher.js';
import { OrderProcessor } from '../processor/order-processor.js';
import { WebhookDispatcher } from '../processor/webhook-dispatcher.js';

export interface Processing {
  processor: OrderProcessor | undefined;
  alerts: AlertDispatcher;
  webhooks: WebhookDispatcher;
  stop(): Promise<void>;
}

export async function startProcessing(config: Config, deps: Deps, gateway: Gateway, logger: Log, options: { runProcessor: boolean }): Promise<Processing> {
  const alerts = new AlertDispatcher(
    { store: deps.store, clock: deps.clock, logger },
    { url: config.alertUrl, retryBaseMs: 1_000, maxBackoffMs: 5 * 60_000, pollMs: 1_000, requestTimeoutMs: 10_000 },
  );
  const webhooks = new WebhookDispatcher({ store: deps.store, clock: deps.clock, logger, onAlert: () => alerts.kick() }, { pollMs: 500, allowPrivate: config.webhookAllowPrivate, sandbox: config.sandbox, timeoutMs: config.webhookTimeoutMs });
  let processor: OrderProcessor | undefined;
  let unlisten: () => unknown = () => undefined;
  const unlistenWebhooks = deps.webhooksQueued.listen(() => webhooks.kick());
  if (options.runProcessor) {
    const p = new OrderProcessor(
      { store: deps.store, clock: deps.clock, catalogue: deps.catalogue, gateway, logger, onUncertain: () => alerts.kick(), onChange: () => webhooks.kick(), metrics: deps.metrics },
      {
        owner: config.workerId,
        concurrency: config.processorConcurrency,
        leaseMs: config.leaseMs,
        gatewayTimeoutMs: config.gatewayTimeoutMs,
        pollMs: config.processorPollMs,
        recoveryEveryMs: config.recoveryEveryMs,
        downRetryMs: config.downRetryMs,
      },
    );
    processor = p;
    unlisten = deps.queued.listen(() => p.notify());
    await p.start();
  }
  alerts.start();
  webhooks.start();
  return {
    processor,
    alerts,
    webhooks,
    async stop() {
      unlisten();
      unlistenWebhooks();
      await processor?.stop();
      await alerts.stop();
      await webhooks.stop();
    },
  };
}
