/**
 * Gateways from their configuration: one constructor per type. A new type (a modem pool, an upstream
 * relay) is a case here, its settings in gateways-config.ts, and its class beside the simulator.
 */
import type { Catalogue } from '../domain/catalogue-cache.js';
import type { OperatorRecord, PlanRecord } from '../store/store.js';
import type { Gateway } from './gateway.js';
import { GatewayRouter } from './gateway-router.js';
import { checkRoutes, GatewaysConfigError, type GatewaysConfig, type GatewaySpec } from './gateways-config.js';
import { defaultSimulatorConfig, loadSimulatorConfigFile, mergeSimulatorConfig, OperatorSimulator, SimulatorConfigError } from './operator-simulator.js';

export interface GatewayContext {
  /** The plan catalogue (the simulator answers GETMENU plans with the operator's menu). */
  catalogue: () => Promise<Catalogue>;
  /** Append each simulated call to this file (crash tests). */
  simulatorCallLog?: string | undefined;
  /** Count calls per order in memory (tests; it grows with every order). */
  trackCalls?: boolean;
}

function makeGateway(name: string, spec: GatewaySpec, ctx: GatewayContext, source: string): Gateway {
  switch (spec.type) {
    case 'simulator': {
      let config;
      try {
        config = spec.configFile ? loadSimulatorConfigFile(spec.configFile) : spec.config !== undefined ? mergeSimulatorConfig(defaultSimulatorConfig(), spec.config) : defaultSimulatorConfig();
      } catch (err) {
        if (err instanceof SimulatorConfigError) throw new GatewaysConfigError(`${source}: gateways.${name}.${spec.configFile ? 'configFile' : 'config'}: ${err.message}`);
        throw err;
      }
      return new OperatorSimulator(ctx.catalogue, config, { ...(ctx.simulatorCallLog ? { callLogPath: ctx.simulatorCallLog } : {}), trackCalls: ctx.trackCalls ?? false, name });
    }
  }
}

/** The router over the configured gateways, its routes checked against the catalogue. */
export function makeGateways(cfg: GatewaysConfig, catalogue: { operators: readonly OperatorRecord[]; plans: readonly PlanRecord[] }, ctx: GatewayContext): GatewayRouter {
  checkRoutes(cfg, catalogue.operators, catalogue.plans);
  const gateways = new Map<string, Gateway>();
  for (const [name, spec] of Object.entries(cfg.gateways)) gateways.set(name, makeGateway(name, spec, ctx, cfg.source));
  return new GatewayRouter(gateways, cfg.routes, catalogue.operators);
}
