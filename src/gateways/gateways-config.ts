/**
 * SHAHN_GATEWAYS: a JSON file naming the gateways and routing operators (and plans) to them.
 *
 *   { "gateways": { "sim": { "type": "simulator", "config": { "defaults": { "latencyMs": { "min": 0, "max": 0 } } } } },
 *     "routes": [ { "operator": "Djezzy", "plan": "FACTURE_DJEZZY", "gateway": "sim" },
 *                 { "operator": "*", "gateway": "sim" } ] }
 *
 * A route names a catalogue operator (or "*" for the rest) and optionally one of its plans; the most
 * specific route wins (plan, then operator, then "*"). Without a file: one simulator gateway for every
 * operator (its config from SHAHN_SIMULATOR_CONFIG). A file that does not read as this shape is
 * refused with the field that is wrong; routes are checked against the catalogue when the store opens.
 */
import { readFileSync } from 'node:fs';
import type { OperatorRecord, PlanRecord } from '../store/store.js';
import { parseModemSettings, templateFor, type ModemGatewaySettings } from './modem/modem-config.js';
import { parseRelaySettings, type RelayGatewaySettings } from './relay/relay-config.js';

export const GATEWAY_TYPES = ['simulator', 'modem', 'relay'] as const;
export type GatewayType = (typeof GATEWAY_TYPES)[number];

export interface SimulatorGatewaySpec {
  type: 'simulator';
  /** A simulator config (merged onto the defaults). */
  config?: unknown;
  /** Or a file holding one. */
  configFile?: string;
}

export type GatewaySpec = SimulatorGatewaySpec | ModemGatewaySettings | RelayGatewaySettings;

export interface RouteSpec {
  /** A catalogue operator's name, or "*" for every operator without a route of its own. */
  operator: string;
  /** Only this plan of the operator. */
  plan?: string;
  gateway: string;
}

export interface GatewaysConfig {
  gateways: Record<string, GatewaySpec>;
  routes: RouteSpec[];
  /** Where it came from, for messages. */
  source: string;
}

export class GatewaysConfigError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `secret(name)`: an environment variable a gateway names (SIM PINs), from the config module's snapshot. */
export function parseGatewaysConfig(raw: unknown, source: string, secret: (name: string) => string | undefined = () => undefined): GatewaysConfig {
  const fail = (field: string, what: string): never => {
    throw new GatewaysConfigError(`${source}: ${field} ${what}`);
  };
  if (!isObject(raw)) return fail('(the whole file)', 'must be a JSON object with "gateways" and "routes"');
  for (const k of Object.keys(raw)) if (k !== 'gateways' && k !== 'routes') fail(k, 'is not a setting (expected "gateways" and "routes")');
  if (!isObject(raw.gateways) || Object.keys(raw.gateways).length === 0) fail('gateways', 'must be an object naming at least one gateway');
  const gateways: Record<string, GatewaySpec> = {};
  for (const [name, spec] of Object.entries(raw.gateways as Record<string, unknown>)) {
    const at = `gateways.${name}`;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) fail(at, 'must be named with 1-64 letters, digits, _ or -');
    if (!isObject(spec)) return fail(at, 'must be an object with a "type"');
    if (!(GATEWAY_TYPES as readonly unknown[]).includes(spec.type)) fail(`${at}.type`, `must be one of ${GATEWAY_TYPES.join(', ')} (got ${JSON.stringify(spec.type)})`);
    if (spec.type === 'modem') {
      gateways[name] = parseModemSettings(spec, at, fail, secret);
      continue;
    }
    if (spec.type === 'relay') {
      gateways[name] = parseRelaySettings(spec, at, fail, secret);
      continue;
    }
    for (const k of Object.keys(spec)) if (!['type', 'config', 'configFile'].includes(k)) fail(`${at}.${k}`, 'is not a setting of a simulator gateway (type, config, configFile)');
    if (spec.config !== undefined && !isObject(spec.config)) fail(`${at}.config`, 'must be an object');
    if (spec.configFile !== undefined && (typeof spec.configFile !== 'string' || spec.configFile === '')) fail(`${at}.configFile`, 'must be a file path');
    if (spec.config !== undefined && spec.configFile !== undefined) fail(at, 'takes "config" or "configFile", not both');
    gateways[name] = { type: 'simulator', ...(spec.config !== undefined ? { config: spec.config } : {}), ...(spec.configFile !== undefined ? { configFile: spec.configFile as string } : {}) };
  }
  // A SIM is one worker on one port: its name (the channel orders record) and its device are the pool's alone.
  const simOwner = new Map<string, string>();
  for (const [name, g] of Object.entries(gateways)) {
    if (g.type !== 'modem') continue;
    g.sims.forEach((sim, i) => {
      for (const key of [`name ${sim.name}`, `device ${sim.device}`]) {
        const other = simOwner.get(key);
        if (other !== undefined) fail(`gateways.${name}.sims[${i}]`, `has the ${key}, which a SIM of gateways.${other} has too`);
        simOwner.set(key, name);
      }
    });
  }
  if (!Array.isArray(raw.routes) || raw.routes.length === 0) fail('routes', 'must be a list of at least one route');
  const routes: RouteSpec[] = (raw.routes as unknown[]).map((r, i) => {
    const at = `routes[${i}]`;
    if (!isObject(r)) return fail(at, 'must be an object with "operator" and "gateway"');
    for (const k of Object.keys(r)) if (!['operator', 'plan', 'gateway'].includes(k)) fail(`${at}.${k}`, 'is not a setting of a route (operator, plan, gateway)');
    if (typeof r.operator !== 'string' || r.operator === '') fail(`${at}.operator`, 'must be an operator of the catalogue or "*"');
    if (r.plan !== undefined && (typeof r.plan !== 'string' || r.plan === '')) fail(`${at}.plan`, 'must be a plan code');
    if (r.plan !== undefined && r.operator === '*') fail(`${at}.plan`, 'needs the plan\'s operator, not "*"');
    if (typeof r.gateway !== 'string' || !(r.gateway in gateways)) fail(`${at}.gateway`, `must name one of the gateways (${Object.keys(gateways).join(', ')})`);
    return { operator: r.operator as string, ...(r.plan !== undefined ? { plan: r.plan as string } : {}), gateway: r.gateway as string };
  });
  const seen = new Set<string>();
  routes.forEach((r, i) => {
    const key = `${r.operator}/${r.plan ?? ''}`;
    if (seen.has(key)) fail(`routes[${i}]`, `routes ${r.operator}${r.plan ? ` ${r.plan}` : ''} a second time`);
    seen.add(key);
  });
  return { gateways, routes, source };
}

export function loadGatewaysFile(path: string, secret: (name: string) => string | undefined = () => undefined): GatewaysConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new GatewaysConfigError(`SHAHN_GATEWAYS: cannot read ${path}: ${(err as Error).message}`);
  }
  return parseGatewaysConfig(raw, `SHAHN_GATEWAYS (${path})`, secret);
}

/** Without a file: one simulator for every operator, its config from SHAHN_SIMULATOR_CONFIG. */
export function defaultGatewaysConfig(simulatorConfigFile: string | undefined): GatewaysConfig {
  return {
    gateways: { simulator: { type: 'simulator', ...(simulatorConfigFile ? { configFile: simulatorConfigFile } : {}) } },
    routes: [{ operator: '*', gateway: 'simulator' }],
    source: 'the default gateways',
  };
}

/** The route that serves a plan: the most specific (plan, then operator, then "*"), as the router picks it. */
export function routeOf(routes: readonly RouteSpec[], operator: string, planCode: string): RouteSpec | undefined {
  return routes.find((r) => r.plan === planCode && r.operator === operator) ?? routes.find((r) => r.plan === undefined && r.operator === operator) ?? routes.find((r) => r.operator === '*');
}

/** Every route names a catalogue operator (and a plan of it); every operator is served by a route. */
export function checkRoutes(cfg: GatewaysConfig, operators: readonly OperatorRecord[], plans: readonly PlanRecord[]): void {
  const names = operators.map((o) => o.name);
  cfg.routes.forEach((r, i) => {
    if (r.operator !== '*' && !names.includes(r.operator)) {
      throw new GatewaysConfigError(`${cfg.source}: routes[${i}].operator "${r.operator}" is not an operator of the catalogue (${names.join(', ')}, or "*")`);
    }
    if (r.plan !== undefined && !plans.some((p) => p.code === r.plan && p.operator === r.operator)) {
      throw new GatewaysConfigError(`${cfg.source}: routes[${i}].plan "${r.plan}" is not a plan of ${r.operator}`);
    }
  });
  // A modem gateway serves the operators it has codes and SIMs for, and of those only the plans it has
  // a USSD template for: a bill or a bundle dialled as a flexy transfer would send the wrong thing.
  for (const [name, g] of Object.entries(cfg.gateways)) {
    if (g.type !== 'modem') continue;
    for (const op of Object.keys(g.operators)) {
      if (!names.includes(op)) throw new GatewaysConfigError(`${cfg.source}: gateways.${name}.operators.${op} is not an operator of the catalogue (${names.join(', ')})`);
      const o = g.operators[op]!;
      for (const code of [...Object.keys(o.plans), ...(o.sendPlans ?? [])]) {
        const field = code in o.plans ? `plans.${code}` : 'sendPlans';
        if (!plans.some((p) => p.code === code && p.operator === op)) throw new GatewaysConfigError(`${cfg.source}: gateways.${name}.operators.${op}.${field}: ${code} is not a plan of ${op}`);
      }
    }
    const routed = plans.filter((p) => routeOf(cfg.routes, p.operator, p.code)?.gateway === name);
    const missing = [...new Set(routed.filter((p) => !(p.operator in g.operators)).map((p) => p.operator))];
    if (missing.length > 0) {
      throw new GatewaysConfigError(`${cfg.source}: the routes send ${missing.join(', ')} to the modem gateway ${name}, which has no codes for ${missing.length > 1 ? 'them' : 'it'}`);
    }
    for (const p of routed) {
      // A menu plan (GETMENU) is answered by the gateway itself: USSD has no menu of offers to give.
      if (!p.isMenu && templateFor(g.operators[p.operator]!, p.code) === undefined) {
        throw new GatewaysConfigError(
          `${cfg.source}: the plan ${p.code} of ${p.operator} is routed to the modem gateway ${name}, which has no USSD code for it: ` +
            `give it one in gateways.${name}.operators.${p.operator}.plans (or add it to sendPlans if the top-up code sends it), or route it to another gateway with { "operator": "${p.operator}", "plan": "${p.code}", "gateway": … }`,
        );
      }
    }
  }
  const everyone = cfg.routes.some((r) => r.operator === '*');
  for (const o of operators) {
    if (!everyone && !cfg.routes.some((r) => r.operator === o.name && r.plan === undefined)) {
      throw new GatewaysConfigError(`${cfg.source}: no route serves ${o.name}; add { "operator": "${o.name}", "gateway": … } or { "operator": "*", … }`);
    }
  }
}
