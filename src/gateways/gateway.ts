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
  /** When the order was created (ms, the store's clock). */
  createdAt: number;
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

/** Where an answer came from and what it said, kept with the order for support (a SIM's name, the raw answer). */
export interface GatewayTrace {
  /** The channel that carried the call (a SIM's name), or undefined. */
  channel?: string;
  /** The raw answer and what was made of it (no secret: never the code dialled). */
  detail: string;
}

/**
 * Only FULFILLED and REFUNDED are definitive. UNKNOWN (and any throw or timeout) makes the order
 * UNKNOWN_ERROR. NOT_SENT says nothing went out (the gateway never called `callStarting`): the order
 * waits PENDING and is tried again after `retryInMs`.
 */
export type GatewayOutcome = (
  | { kind: 'FULFILLED' }
  | { kind: 'REFUNDED'; refundMessage: string; suggestedOffers?: GatewayOffer[] }
  | { kind: 'UNKNOWN'; reason: string }
  | { kind: 'NOT_SENT'; reason: string; retryInMs?: number }
) & { trace?: GatewayTrace };

/** What the processor gives a gateway with each call. */
export interface SendContext {
  /** Aborted at the processor's gateway timeout. */
  signal: AbortSignal;
  /**
   * Say that the irrevocable step is about to happen (the code dialled, the request sent), just before
   * it: the processor records "call started" first, with the channel that makes the call (a SIM's
   * name). False: the lease was lost, or the call was already started once; do not call, answer NOT_SENT.
   */
  callStarting(channel?: string): Promise<boolean>;
  /** What is left of the processor's gateway timeout (ms): a call that cannot end in it is not started. */
  remainingMs(): number;
}

export interface Gateway {
  readonly name: string;
  /** Can an order for this target be sent now? A down operator's orders wait PENDING, never sent. */
  isUp(target: GatewayTarget): boolean;
  /** Send one top-up: `ctx.callStarting()` before the irrevocable step; honour `ctx.signal` (the processor's timeout). */
  send(request: GatewayRequest, ctx: SendContext): Promise<GatewayOutcome>;
  /** What it is, in a few words, for the start-up banner ("operator simulator", "modem pool: 2 SIMs (Djezzy)"). */
  describe?(): string;
  /** Open what the gateway drives (a modem pool's serial ports), before the processor starts. */
  start?(): Promise<void>;
  /** Close it, after the processor has drained. */
  stop?(): Promise<void>;
}

/** How long a channel's published state counts (a modem pool publishes its SIMs every 5 s). */
export const CHANNEL_STALE_MS = 30_000;

/** What the API needs of the gateways: /v3/ping's operator health and the simulator's runtime controls. */
export interface GatewayDirectory {
  /** Is the operator reported as `healthKey` up through the gateways that serve it? */
  isUp(healthKey: HealthKey): boolean;
  /** The names of the gateways that serve the operators reported as `healthKey` (none known: empty). */
  servedBy?(healthKey: HealthKey): string[];
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
