/** `shahn worker`: an order processor (and alert dispatcher) without the HTTP API. */
import pino from 'pino';
import type { Config } from '../config.js';
import { buildDeps, openReadyStore } from '../domain/open-deps.js';
import { startProcessing } from './start-processing.js';

export async function runWorker(config: Config) {
  const logger = pino({ level: config.logLevel });
  const { store } = await openReadyStore(config);
  const deps = buildDeps(config, store);
  const processing = await startProcessing(config, deps, logger, { runProcessor: true });
  logger.info({ workerId: config.workerId, concurrency: config.processorConcurrency }, 'order processor started');
  let stopping: Promise<void> | undefined;
  return {
    app: { log: logger },
    processing,
    stop: () =>
      (stopping ??= (async () => {
        await processing.stop();
        await store.close();
      })()),
  };
}
