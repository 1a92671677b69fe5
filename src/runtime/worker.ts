/** `shahn worker`: an order processor (and the outbox dispatcher) without the HTTP API. */
import type { Config } from '../config.js';
import { processLogger } from '../lib/process-logger.js';
import { wireProcess, type GatewayProcess } from './gateways.js';
import { openReadyStore } from './open-store.js';
import { startMetricsServer } from './metrics-server.js';
import { startProcessing } from './processing.js';

export async function runWorker(config: Config) {
  const logger = processLogger(config.logLevel);
  const { store } = await openReadyStore(config);
  const proc: GatewayProcess = { drive: true, log: logger };
  const { deps, gateways } = await wireProcess(config, store, proc);
  const processing = await startProcessing(config, deps, gateways, logger, { runProcessor: true });
  proc.onAlert = () => processing.alerts.kick();
  const metrics = await startMetricsServer(deps, logger);
  logger.info({ workerId: config.workerId, concurrency: config.processorConcurrency, ...(metrics ? { metrics: metrics.url } : {}) }, 'order processor started');
  let stopping: Promise<void> | undefined;
  return {
    app: { log: logger },
    processing,
    stop: () =>
      (stopping ??= (async () => {
        await processing.stop();
        await gateways.stop();
        await metrics?.close();
        await store.close();
      })()),
  };
}
