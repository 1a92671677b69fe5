/**
 * A gateway is how a top-up really reaches an operator: the operator simulator, GSM modems
 * (AT commands / USSD) or an upstream v3 provider. Which gateway serves which operator (or plan) is
 * configuration (gateways-config.ts); the router (gateway-router.ts) sends each order to its gateway.
 * The order processor calls it; a gateway never touches the store.
 */
import type { OperatorRecord } from '../store/store.js';
import type { OperatorSimulator } from './operator-simulator.js';

/** Which /v3/ping field reports an operator. */
export type HealthKey = OperatorRecord['healthKey'];

/** What an order is sent to: its plan, the plan's operator (as in the catalogue) and the operator's ping field. */
export interface GatewayTarget {
  /** The plan's operator as in the catalogue (Djezzy, Mobilis, Pixx, …). */
  operator: string;
  /** Which /v3/ping operator this goes through. */
  healthKey: HealthKey;
  planCode: string;
}

export interface GatewayRequest extends GatewayTarget {
  orderId: string;
  ref: string;
  mssidn: string;
  /** DZD */
  amount: number;
  isMenu: boolean;
}

export interface GatewayOffer {
  typename: string;
  plan_code: string;
  /** DZD */
  amount: number;
}

/** Only FULFILLED and REFUNDED are definitive. Anything else (and any throw or timeout) is UNKNOWN. */
export type GatewayOutcome =
  | { kind: 'FULFILLED' }
  | { kind: 'REFUNDED'; refundMessage: string; suggestedOffers?: GatewayOffer[] }
  | { kind: 'UNKNOWN'; reason: string };

export interface Gateway {
  readonly name: string;
  /** Can an order for this target be sent now? A down operator's orders wait PENDING, never sent. */
  isUp(target: GatewayTarget): boolean;
  /** Send one top-up. Must honour `signal` (the processor's timeout). */
  send(request: GatewayRequest, signal: AbortSignal): Promise<GatewayOutcome>;
}

/** What the API needs of the gateways: /v3/ping's operator health and the simulator's runtime controls. */
export interface GatewayDirectory {
  /** Is the operator reported as `healthKey` up through the gateways that serve it? */
  isUp(healthKey: HealthKey): boolean;
  /** The simulator gateway called `name` (or the only one); undefined when no simulator gateway is configured. */
  simulator(name?: string): OperatorSimulator | undefined;
}

/** Health set by hand (tests): every operator up unless marked down; no simulator. */
export class StaticGatewayHealth implements GatewayDirectory {
  private readonly down = new Set<HealthKey>();
  isUp(healthKey: HealthKey): boolean {
    return !this.down.has(healthKey);
  }
  set(healthKey: HealthKey, up: boolean): void {
    if (up) this.down.delete(healthKey);
    else this.down.add(healthKey);
  }
  simulator(): undefined {
    return undefined;
  }
}
