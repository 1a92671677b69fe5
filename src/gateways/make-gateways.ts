/**
 * Gateways from their configuration: one constructor per type. A new type (an upstream relay) is a
 * case here, its settings in gateways-config.ts, and its class beside the simulator and the modem pool.
 */
import type { Catalogue } from '../domain/catalogue-cache.js';
import type { Log } from '../lib/log.js';
import type { ChannelRecord, OperatorRecord, PlanRecord } from '../store/store.js';
import type { Gateway } from './gateway.js';
import { GatewayRouter } from './gateway-router.js';
import { checkRoutes, GatewaysConfigError, type GatewaysConfig, type GatewaySpec } from './gateways-config.js';
import { ModemChannelsView, ModemPool, MODEM_STEP_ALLOWANCE_MS, type ModemPoolHooks } from './modem/modem-pool.js';
import { RelayGateway, type RelayHooks } from './relay/relay-gateway.js';
import { defaultSimulatorConfig, loadSimulatorConfigFile, mergeSimulatorConfig, OperatorSimulator, SimulatorConfigError } from './operator-simulator.js';

/** What a modem gateway needs of its process: where to publish its SIMs, alerts and messages. */
export interface ModemRuntime {
  /** Drive the modems here (the process that runs the order processor); otherwise only see them. */
  drive: boolean;
  /** The processor's gateway timeout: a dial must fit in it after the wait for a free SIM. */
  gatewayTimeoutMs: number;
  hooks: (gateway: string) => ModemPoolHooks;
  read: (gateway: string) => Promise<ChannelRecord[]>;
  now: () => number;
  log: Log;
}

/** What a relay gateway needs of its process: the store's hooks (published state, alerts, late answers). */
export interface RelayRuntime {
  /** Send and follow orders here (the process that runs the order processor); otherwise only read the upstream's ping. */
  drive: boolean;
  gatewayTimeoutMs: number;
  hooks: (gateway: string) => RelayHooks;
  /** A fetch for the upstream (tests put a fault proxy in between by address instead). */
  fetch?: typeof fetch;
}

export interface GatewayContext {
  /** The plan catalogue (the simulator answers GETMENU plans with the operator's menu). */
  catalogue: () => Promise<Catalogue>;
  /** Append each simulated call to this file (crash tests). */
  simulatorCallLog?: string | undefined;
  /** Count calls per order in memory (tests; it grows with every order). */
  trackCalls?: boolean;
  /** How a modem gateway reaches its process (serve, worker); without it, a modem gateway cannot be made. */
  modem?: ModemRuntime;
  /** How a relay gateway reaches its process (serve, worker); without it, a relay gateway cannot be made. */
  relay?: RelayRuntime;
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
    case 'modem': {
      const m = ctx.modem;
      if (!m) throw new GatewaysConfigError(`${source}: gateways.${name}: a modem gateway runs only in shahn serve or shahn worker`);
      const longest = Math.max(...Object.values(spec.operators).map((o) => o.ussdTimeoutMs));
      const room = m.gatewayTimeoutMs - longest - MODEM_STEP_ALLOWANCE_MS;
      if (room < 1_000) {
        throw new GatewaysConfigError(
          `${source}: gateways.${name}: a ussdTimeoutMs of ${longest} ms does not fit in the gateway timeout (SHAHN_GATEWAY_TIMEOUT_MS=${m.gatewayTimeoutMs}): ` +
            `it must be at least ${longest + MODEM_STEP_ALLOWANCE_MS + 1_000} ms (the answer, the checks before the dial, and 1 s to wait for a free SIM)`,
        );
      }
      if (!m.drive) return new ModemChannelsView(name, () => m.read(name), m.now, m.log);
      return new ModemPool(name, spec, m.hooks(name), { queueWaitMs: Math.min(20_000, room) });
    }
    case 'relay': {
      const r = ctx.relay;
      if (!r) throw new GatewaysConfigError(`${source}: gateways.${name}: a relay gateway runs only in shahn serve or shahn worker`);
      if (r.gatewayTimeoutMs < spec.requestTimeoutMs + 5_000) {
        throw new GatewaysConfigError(`${source}: gateways.${name}: a requestTimeoutMs of ${spec.requestTimeoutMs} ms does not fit in the gateway timeout (SHAHN_GATEWAY_TIMEOUT_MS=${r.gatewayTimeoutMs}): it must be at least ${spec.requestTimeoutMs + 5_000} ms`);
      }
      return new RelayGateway(name, spec, r.hooks(name), r.drive, r.fetch);
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
