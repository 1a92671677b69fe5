/** The wire types, from the contract's schemas (the single definition of the v3 API). */
import type {
  BalanceDataOut,
  PageQueryInput,
  PingDataOut,
  PlansDataOut,
  SandboxClockOut,
  SendBodyInput,
  SendDataOut,
  SuggestedOfferOut,
  TopupOut,
  TopupStatus,
  TransactionOut,
  ValidateDataOut,
} from '@shahn/contract';

export type Topup = TopupOut;
export type { TopupStatus };
export type SuggestedOffer = SuggestedOfferOut;
export type Plans = PlansDataOut;
export type DynamicPlan = PlansDataOut['dynamicPlans'][number];
export type FixedPlan = PlansDataOut['fixedPlans'][number];
export type Balance = BalanceDataOut;
export type Transaction = TransactionOut;
export type Ping = PingDataOut;
export type KeyInfo = ValidateDataOut;
export type SendParams = SendBodyInput;
/**
 * What a send answers. `newBalance` (DZD, the balance after the charge; the sandbox's unchanged
 * balance) is absent when the reply was lost and the SDK found the top-up by its ref instead.
 */
export type SendResult = Omit<SendDataOut, 'newBalance'> & { newBalance?: number };
export type ListQuery = PageQueryInput;
/** A merchant's sandbox clock (shahn's extension; SANDBOX keys only). */
export type SandboxClock = SandboxClockOut;

/** Statuses after which a top-up's check stops: FULFILLED, REFUNDED, UNKNOWN_ERROR. */
export const FINAL_STATUSES: readonly TopupStatus[] = ['FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR'];

export function isFinalStatus(status: TopupStatus | string): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}
