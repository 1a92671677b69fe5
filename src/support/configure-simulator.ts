/** Change the operator simulator at runtime (latency, outcome rates, outages, forced numbers), audited. */
import { AppError } from '@shahn/contract/core';
import type { Deps } from '../domain/deps.js';
import type { SimulatorConfig } from '../gateways/operator-simulator.js';
import { auditRecord } from './audit.js';

export async function configureSimulator(
  deps: Pick<Deps, 'store' | 'clock' | 'gateways'>,
  options: { actor: string; patch: unknown; gateway?: string | undefined; action?: string; target?: string; reason?: string },
): Promise<SimulatorConfig> {
  // Only this process's simulator: a separate `shahn worker` keeps its own.
  const simulator = deps.gateways.simulator(options.gateway);
  if (!simulator) throw new AppError('NOT_FOUND', options.gateway ? `No simulator gateway named '${options.gateway}' in this process` : 'No operator simulator in this process');
  let next: SimulatorConfig;
  try {
    next = simulator.configure(options.patch);
  } catch (err) {
    throw new AppError('ERR_VALIDATION', `body ${(err as Error).message}`, { field: '', reason: 'simulator_config' });
  }
  const details = typeof options.patch === 'object' && options.patch !== null ? (options.patch as Record<string, unknown>) : {};
  await deps.store.audit.insertAudit(auditRecord(deps.clock.now(), options.actor, options.action ?? 'simulator.configure', options.target ?? 'simulator', options.reason ?? '', details));
  return next;
}
