/**
 * The repository interface. Domain functions receive a Store; they never import one.
 * All money is integer centimes; all times are epoch milliseconds.
 */
import type { KeyScope, KeyType, TopupStatus, TransactionType } from '../contract/schemas.js';

export type Env = KeyType;

/** System accounts: the other side of each double entry. */
export const ACCOUNTS = Object.freeze({
  deposits: 'system:deposits',
  operatorSettlement: 'system:operator-settlement',
});

export interface MerchantRecord {
  id: string;
  username: string;
  balance: number;
  createdAt: number;
}

export interface KeyRecord {
  id: string;
  merchantId: string;
  username: string;
  keyHash: string;
  type: KeyType;
  scope: KeyScope;
  isEnabled: boolean;
  allowedIps: string[];
  createdAt: number;
}

export interface OperatorRecord {
  name: string;
  /** Phone prefixes owned by the operator, e.g. ["07"]. */
  prefixes: string[];
  /** The /v3/ping field that reports it. */
  healthKey: 'mobilis' | 'djezzy' | 'ooredoo' | 'mobilisFixedPlans';
}

export interface PlanRecord {
  code: string;
  name: string;
  operator: string;
  kind: 'dynamic' | 'fixed';
  /** Cost multiplier in parts per million; null means 1. */
  costPpm: number | null;
  isEnabled: boolean;
  /** DZD, dynamic plans. */
  minAmount: number | null;
  maxAmount: number | null;
  /** DZD, fixed plans. */
  amount: number | null;
  /** A GETMENU plan: the operator answers with a menu of offers. */
  isMenu: boolean;
  position: number;
}

export interface SuggestedOfferRecord {
  typename: string;
  plan_code: string;
  /** centimes */
  amount: number;
}

export type SandboxScenario = 'FULFILLED' | 'REFUND' | 'SUGGEST' | 'UNKNOWN' | 'MENU';

export interface OrderRecord {
  id: string;
  merchantId: string;
  env: Env;
  ref: string;
  /** Stored status. For sandbox orders the visible status is derived from the clock (see domain/sandbox.ts). */
  status: TopupStatus;
  planCode: string;
  mssidn: string;
  /** centimes */
  topupAmount: number;
  /** The charge, centimes (what the order costs, or would cost in the sandbox). */
  charge: number;
  createdAt: number;
  updatedAt: number;
  refundMessage: string | null;
  suggestedOffers: SuggestedOfferRecord[] | null;
  followOrderId: string | null;
  retryOrderId: string | null;
  sandboxScenario: SandboxScenario | null;
}

export interface LedgerEntryRecord {
  id: string;
  merchantId: string;
  type: TransactionType;
  operation: 'INCREMENT' | 'DECREMENT';
  amount: number;
  oldBalance: number;
  newBalance: number;
  objid: string;
  note: string;
  time: number;
  /** The other side of the double entry: a system account. */
  counterAccount: string;
}

export interface TimeWindow {
  from?: number;
  to?: number;
}

export interface PageRequest extends TimeWindow {
  offset: number;
  limit: number;
}

export interface PageResult<T> {
  items: T[];
  total: number;
}

export type InsertOrderResult =
  | { ok: true }
  | { ok: false; reason: 'DUPLICATED_REF'; existingId: string }
  | { ok: false; reason: 'INSUFFICIENT_BALANCE'; available: number };

export interface NewKey {
  id: string;
  keyHash: string;
  type: KeyType;
  scope: KeyScope;
  isEnabled: boolean;
  allowedIps: string[];
}

export interface Store {
  readonly kind: 'sqlite';
  /** Apply pending migrations. Refuses a store whose schema is newer than this code. */
  migrate(): Promise<{ from: number; to: number }>;
  schemaVersion(): Promise<number>;
  /** A cheap round trip; throws when the store is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;

  // merchants and keys
  createMerchant(input: { merchant: MerchantRecord; keys: NewKey[]; deposit?: LedgerEntryRecord }): Promise<void>;
  findMerchantByUsername(username: string): Promise<MerchantRecord | undefined>;
  findMerchantById(id: string): Promise<MerchantRecord | undefined>;
  countMerchants(): Promise<number>;
  insertKey(merchantId: string, key: NewKey, now: number): Promise<void>;
  findKeyByHash(keyHash: string): Promise<KeyRecord | undefined>;

  // ledger
  /** Append a DEPOSIT-like entry; old/new balances are computed inside the store transaction. */
  credit(input: { id: string; merchantId: string; amount: number; note: string; time: number }): Promise<LedgerEntryRecord>;
  listLedger(merchantId: string, page: PageRequest): Promise<PageResult<LedgerEntryRecord>>;

  // catalogue
  listOperators(): Promise<OperatorRecord[]>;
  listPlans(): Promise<PlanRecord[]>;
  upsertCatalogue(operators: OperatorRecord[], plans: PlanRecord[]): Promise<void>;

  // orders
  /**
   * Record an order. In production, in the same transaction: the ref is checked unique, the charge
   * is taken from the balance (never below zero) as a FLEXY ledger entry, and the order is inserted.
   */
  insertOrder(order: OrderRecord, charge: { entryId: string; note: string } | null): Promise<InsertOrderResult>;
  findOrderById(merchantId: string, env: Env, id: string): Promise<OrderRecord | undefined>;
  findOrderByRef(merchantId: string, env: Env, ref: string): Promise<OrderRecord | undefined>;
  listOrders(merchantId: string, env: Env, page: PageRequest): Promise<PageResult<OrderRecord>>;
}
