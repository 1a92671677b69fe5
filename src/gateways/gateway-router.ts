/**
 * The gateways of a process and the routes between them: an order goes to the gateway of the most
 * specific route for its plan (plan, then operator, then "*"). /v3/ping reports an operator up while
 * a gateway that serves it is up for it.
 */
import type { OperatorRecord } from '../store/store.js';
import type { Gateway, GatewayDirectory, GatewayOutcome, GatewayRequest, GatewayTarget, HealthKey, SendContext } from './gateway.js';
import { routeOf, type RouteSpec } from './gateways-config.js';
import { OperatorSimulator } from './operator-simulator.js';

/** Told of each call a gateway answered: its route's gateway name, the operator, the outcome (ERROR: it threw), and how long it took. */
export type GatewayCallObserver = (gateway: string, operator: string, outcome: string, seconds: number) => void;

export class GatewayRouter implements Gateway, GatewayDirectory {
  readonly name = 'router';
  /** Set by the process that serves metrics. */
  onCall: GatewayCallObserver | undefined;

  constructor(
    readonly gateways: ReadonlyMap<string, Gateway>,
    private readonly routes: readonly RouteSpec[],
    private readonly operators: readonly OperatorRecord[],
  ) {}

  /** The gateway that serves a plan of an operator. */
  route(target: Pick<GatewayTarget, 'operator' | 'planCode'>): Gateway {
    return this.routed(target).gateway;
  }

  private routed(target: Pick<GatewayTarget, 'operator' | 'planCode'>): { name: string; gateway: Gateway } {
    const r = routeOf(this.routes, target.operator, target.planCode);
    const g = r && this.gateways.get(r.gateway);
    if (!r || !g) throw new Error(`no gateway serves ${target.operator} ${target.planCode}`);
    return { name: r.gateway, gateway: g };
  }

  isUp(target: GatewayTarget | HealthKey): boolean {
    if (typeof target !== 'string') return this.route(target).isUp(target);
    // /v3/ping: an operator is up while any gateway that serves it (any of its routes) is up for it.
    const served = this.operators.filter((o) => o.healthKey === target);
    return (
      served.length === 0 ||
      served.some((o) => this.gatewaysOf(o.name).some((g) => g.isUp({ operator: o.name, healthKey: o.healthKey, planCode: '' })))
    );
  }

  servedBy(healthKey: HealthKey): string[] {
    const names = this.operators.filter((o) => o.healthKey === healthKey).flatMap((o) => this.gatewaysOf(o.name).map((g) => g.name));
    return [...new Set(names)];
  }

  async send(request: GatewayRequest, ctx: SendContext): Promise<GatewayOutcome> {
    const { name, gateway } = this.routed(request);
    const onCall = this.onCall;
    if (onCall === undefined) return gateway.send(request, ctx);
    const started = performance.now();
    let outcome: GatewayOutcome;
    try {
      outcome = await gateway.send(request, ctx);
    } catch (err) {
      onCall(name, request.operator, 'ERROR', (performance.now() - started) / 1000);
      throw err;
    }
    onCall(name, request.operator, outcome.kind, (performance.now() - started) / 1000);
    return outcome;
  }

  /** "pool (modem pool, 2 of 2 SIMs ready (Djezzy)), simulator (operator simulator)". */
  describe(): string {
    return [...this.gateways.entries()].map(([name, g]) => `${name} (${g.describe?.() ?? 'gateway'})`).join(', ');
  }

  /** Start every gateway that drives something (a modem pool opens its ports). */
  async start(): Promise<void> {
    await Promise.all([...this.gateways.values()].map((g) => g.start?.()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.gateways.values()].map((g) => g.stop?.()));
  }

  simulator(name?: string): OperatorSimulator | undefined {
    const sims = [...this.gateways.entries()].filter(([, g]) => g instanceof OperatorSimulator) as [string, OperatorSimulator][];
    if (name !== undefined) return sims.find(([n]) => n === name)?.[1];
    return sims[0]?.[1];
  }

  private gatewaysOf(operator: string): Gateway[] {
    const names = this.routes.filter((r) => r.operator === operator || (r.operator === '*' && !this.routes.some((x) => x.operator === operator && x.plan === undefined))).map((r) => r.gateway);
    return [...new Set(names)].map((n) => this.gateways.get(n)).filter((g): g is Gateway => g !== undefined);
  }
}
