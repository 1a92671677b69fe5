/**
 * A gateway is how a top-up really reaches an operator: the operator simulator, GSM modems
 * (AT commands / USSD) or an upstream v3 provider. The order processor calls it; it never touches
 * the store.
 */
import type { GatewayHealth, HealthKey } from '../domain/gateway-health.js';

export interface GatewayRequest {
  orderId: string;
  ref: string;
  planCode: string;
  /** The plan's operator as in the catalogue (Djezzy, Mobilis, Pixx, …). */
  operator: string;
  /** Which /v3/ping operator this goes through. */
  healthKey: HealthKey;
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

export interface Gateway extends GatewayHealth {
  readonly name: string;
  /** Send one top-up. Must honour `signal` (the processor's timeout). */
  send(request: GatewayRequest, signal: AbortSignal): Promise<GatewayOutcome>;
}
