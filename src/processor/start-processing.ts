/**
 * Wire the production side of a process: the operator simulator as the gateway (and the source of
 * /v3/ping operator health), the order processor and the alert dispatcher.
 */
import type { Log } from '../lib/log.js';
import type { Config } from '../config.js';
import type { Deps } from '../domain/deps.js';
import { defaultSimulatorConfig, loadSimulatorConfigFile, OperatorSimulator } from '../gateways/operator-simulator.js';
import { AlertDispatcher } from './alert-dispatcher.js';
import { OrderProcessor } from './order-processor.js';

export interface Processing {
  simulator: OperatorSimulator;
  processor: OrderProcessor | undefined;
  alerts: AlertDispatcher;
  stop(): Promise<void>;
}

/** Make the simulator and set it as the deps' gateway health (API and worker processes alike). */
export function attachSimulator(config: Config, deps: Deps): OperatorSimulator {
  const simulator = new OperatorSimulator(
    () => deps.catalogue.get(),
    config.simulatorConfig ? loadSimulatorConfigFile(config.simulatorConfig) : defaultSimulatorConfig(),
    { ...(config.simulatorCallLog ? { callLogPath: config.simulatorCallLog } : {}), trackCalls: false },
  );
  deps.gatewayHealth = simulator;
  return simulator;
}

export async function startProcessing(
  config: Config,
  deps: Deps,
  logger: Log,
  options: { runProcessor: boolean; simulator?: OperatorSimulator },
): Promise<Processing> {
  const simulator = options.simulator ?? attachSimulator(config, deps);
  const alerts = new AlertDispatcher(
    { store: deps.store, clock: deps.clock, logger },
    { url: config.alertUrl, retryBaseMs: 1_000, maxBackoffMs: 5 * 60_000, pollMs: 1_000, requestTimeoutMs: 10_000 },
  );
  let processor: OrderProcessor | undefined;
  if (options.runProcessor) {
    processor = new OrderProcessor(
      { store: deps.store, clock: deps.clock, catalogue: deps.catalogue, gateway: simulator, logger, onUncertain: () => alerts.kick() },
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
    const p = processor;
    deps.notifyQueued = () => p.notify();
    await processor.start();
  }
  alerts.start();
  return {
    simulator,
    processor,
    alerts,
    async stop() {
      await processor?.stop();
      await alerts.stop();
    },
  };
}
