/**
 * The repository interface, split by area (orders, processing, ledger, accounts, catalogue, console,
 * guards, outbox, audit). Domain functions receive a Store; they never import one. One implementation
 * (sql/make-sql-store.ts) serves both databases through the dialect seam (sql.ts).
 * All money is integer centimes; all times are epoch milliseconds.
 */
import type { KeyScope, KeyType, TopupStatus, TransactionType } from '@shahn/contract';
import type { SandboxTimeline } from '../lib/sandbox-timeline.js';

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

/**
 * How a sandbox order's timeline ends (domain/sandbox.ts). Stored as `sandbox_scenario` (the first five)
 * and, for the test numbers 0600000004–07, `sandbox_case` beside the scenario they start from.
 */
export type SandboxScenario = 'FULFILLED' | 'REFUND' | 'SUGGEST' | 'UNKNOWN' | 'MENU' | 'LATE_FULFILLED' | 'LATE_REFUNDED' | 'OUTAGE' | 'LOST_REPLY';

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
  /** When the processor recorded that the gateway call was about to start (production). */
  callStartedAt?: number | null;
  /** The processor holding the order's lease (HANDLING), or null. */
  leaseOwner?: string | null;
  /** The gateway channel that carried the call (a SIM's name), and what the answer said, for support. */
  gatewayChannel?: string | null;
  gatewayTrace?: string | null;
  /** When the order reached FULFILLED or REFUNDED (or UNKNOWN_ERROR). */
  finalAt?: number | null;
  attempts?: number;
}

export interface AuditRecord {
  id: string;
  at: number;
  actor: string;
  action: string;
  target: string;
  reason: string;
  details: Record<string, unknown>;
}

/**
 * A message in the transactional outbox: written in the same transaction as the change that causes
 * it, then delivered (at least once) by a dispatcher that claims it with a lease. `kind` says which
 * dispatcher takes it (`alert`: support alerts); `topic` what happened; `subject` what it is about.
 */
export interface OutboxMessage {
  id: string;
  /** `alert`: a support alert; `webhook`: one event for one merchant endpoint (subject: the endpoint, payload: { eventId }). */
  kind: 'alert' | 'webhook';
  /**
   * For alerts: UNKNOWN_ERROR (support must decide), LATE_ANSWER_CONTRADICTS (the operator answered
   * after support decided otherwise), CONFIRMATION_AMBIGUOUS (a confirmation SMS could be about more
   * than one order); about a modem pool's SIM: SIM_OUT_OF_ROTATION, SIM_GONE, SIM_LOW_BALANCE.
   */
  topic: string;
  /** What the message is about: an order's id, or a SIM's name. */
  subject: string;
  payload: Record<string, unknown>;
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
  deliveredAt: number | null;
  lastError: string | null;
}

export interface AdminRecord {
  id: string;
  name: string;
  tokenHash: string;
  isEnabled: boolean;
  createdAt: number;
}

/** The ledger entry that returns an order's charge. */
export interface RefundEntry {
  id: string;
  note: string;
}

/** Where an answer came from and what it said (a SIM's name, the raw answer), kept with the order for support. */
export interface OrderTrace {
  channel: string | null;
  detail: string;
}

/** What a gateway call ended in, as the processor records it. */
export type RecordedOutcome =
  | { status: 'FULFILLED'; trace?: OrderTrace }
  | { status: 'REFUNDED'; refundMessage: string; suggestedOffers: SuggestedOfferRecord[] | null; refund: RefundEntry; trace?: OrderTrace }
  | { status: 'UNKNOWN_ERROR'; refundMessage: string; alert: OutboxMessage; trace?: OrderTrace }
  /** The gateway did not send (operator down): back to the queue, not before `notBefore`. */
  | { status: 'PENDING'; notBefore: number };

/** What to do with an outcome, given the order as it is when the outcome is recorded (domain/outcome-rules.ts decides). */
export type OutcomeDecision = { action: 'apply' } | { action: 'late'; audit: AuditRecord } | { action: 'ignore' };

export type ResolveResult =
  | { ok: true; order: OrderRecord }
  | { ok: false; reason: 'NOT_FOUND' }
  | { ok: false; reason: 'CONFLICT'; status: TopupStatus };

export interface MoneyViolation {
  merchantId?: string;
  orderId?: string;
  problem: string;
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

export interface ConsoleLoginRecord {
  id: string;
  role: 'admin' | 'merchant';
  /** The admin's name or the merchant's username. */
  login: string;
  /** admins.id or merchants.id */
  subjectId: string;
  passwordHash: string;
  createdAt: number;
  updatedAt: number;
}

export interface ConsoleSessionRecord {
  tokenHash: string;
  csrfToken: string;
  createdAt: number;
  expiresAt: number;
  login: ConsoleLoginRecord;
}

/** Filters of the console's order lists. `status` is the status a reader sees (derived for sandbox orders). */
export interface OrderFilter {
  status?: TopupStatus;
  mssidn?: string;
  ref?: string;
  /** For the sandbox's derived status: the time of reading and the sandbox timeline. */
  now: number;
  timeline: SandboxTimeline;
}

/** Orders per (time bucket, visible status), for the console's charts. */
export interface OrderStatsRow {
  bucket: number;
  status: TopupStatus;
  count: number;
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
  /** `balance`: the merchant's balance after the charge (unchanged when nothing was charged). */
  | { ok: true; balance: number }
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

/** A write refused by a UNIQUE constraint (SQLite or PostgreSQL): two writers raced for the same name. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** The store cannot be reached (or timed out): answered as 503 SERVICE_UNAVAILABLE, nothing half-written. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/** The store's schema is newer than this code. */
export class SchemaVersionError extends Error {}

/** The store could not be opened (a bad path, a folder, no permission, not a database, no such server): one clear line for a person. */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';
}

/**
 * SQLite result codes that mean the file cannot be used right now (locked by another process past
 * the busy timeout, an I/O error, a full disk, a read-only or vanished file), not a bug in a statement.
 */
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|PROTOCOL)/;

/** An error that means the store cannot be reached or used now (answered 503, retried by clients). */
export function isStoreUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && SQLITE_UNAVAILABLE.test(code);
}

/** Orders: sends, reads, support's resolution and re-send. */
export interface OrdersStore {
  /**
   * Record an order. In production, in the same transaction: the ref is checked unique, the charge
   * is taken from the balance (never below zero) as a FLEXY ledger entry, and the order is inserted.
   */
  /**
   * Insert an order (and its charge, in production). `scheduled`: a sandbox order's webhook events at
   * the moments of its timeline, written with it for the merchant's sandbox endpoints (if any).
   */
  insertOrder(order: OrderRecord, charge: { entryId: string; note: string } | null, scheduled?: readonly { at: number; type: WebhookEventType }[]): Promise<InsertOrderResult>;
  findOrderById(merchantId: string, env: Env, id: string): Promise<OrderRecord | undefined>;
  findOrderByRef(merchantId: string, env: Env, ref: string): Promise<OrderRecord | undefined>;
  listOrders(merchantId: string, env: Env, page: PageRequest): Promise<PageResult<OrderRecord>>;
  /** Orders of one merchant and environment, newest first, filtered. */
  listOrdersFiltered(merchantId: string, env: Env, filter: OrderFilter, page: PageRequest): Promise<PageResult<OrderRecord>>;
  /** Support's search across merchants: an order id, a ref or an MSSIDN (newest first, at most `limit`). */
  searchOrders(query: string, limit: number): Promise<OrderRecord[]>;
  findOrderAnywhere(id: string): Promise<OrderRecord | undefined>;
  /** Production UNKNOWN_ERROR orders, oldest first. */
  listUncertainOrders(page: PageRequest): Promise<PageResult<OrderRecord>>;
  /** Production orders (any status) whose call went through `channel` to `mssidn` for `topupAmount` (centimes), their call started in [since, until], oldest first. */
  findCallsByChannel(input: { channel: string; mssidn: string; topupAmount: number; since: number; until: number }): Promise<OrderRecord[]>;
  /** Production orders (any status) whose call went through `channel`, created in [from, to]; oldest first, at most `limit`. */
  listByChannel(channel: string, from: number, to: number, limit: number): Promise<OrderRecord[]>;
  /** Production UNKNOWN_ERROR orders whose call went through `channel`, started at or after `since`; oldest first, at most `limit`. */
  listUncertainByChannel(channel: string, since: number, limit: number): Promise<OrderRecord[]>;
  /** When the latest call through `channel` started, at or after `since`, whose order has no answer (HANDLING or UNKNOWN_ERROR); null when none. */
  lastUnansweredCall(channel: string, since: number): Promise<number | null>;
  /** Resolve an UNKNOWN_ERROR order exactly once (a REFUNDED production order gets its refund entry). */
  resolveOrder(input: {
    orderId: string;
    to: 'FULFILLED' | 'REFUNDED';
    /** The stored status the caller saw: UNKNOWN_ERROR (production) or PENDING (a sandbox order, whose status is derived). */
    expectStatus: 'UNKNOWN_ERROR' | 'PENDING';
    now: number;
    refund: RefundEntry;
    /** The order's refund_message after the resolution (null for FULFILLED). */
    refundMessage: string | null;
    audit: AuditRecord;
  }): Promise<ResolveResult>;
  /** Re-send an order as a new one (charged again in production), linked both ways, if `mayResend` says the original may be. */
  resendOrder(input: { originalId: string; order: OrderRecord; charge: { entryId: string; note: string }; mayResend: (original: OrderRecord) => boolean; audit: AuditRecord }): Promise<
    InsertOrderResult | { ok: false; reason: 'NOT_FOUND' } | { ok: false; reason: 'CONFLICT'; status: TopupStatus; retryOrderId: string | null }
  >;
  /** SQLite: reads by id without a promise (the check-id hot path); absent on other stores. */
  readonly syncReads?: SyncOrderReads;
}

/** Synchronous reads by id (SQLite), served from the store's order cache. */
export interface SyncOrderReads {
  findOrderById(merchantId: string, env: Env, id: string): OrderRecord | undefined;
  /** The merchant's sandbox clock offset (SandboxClockStore.offset), read without a promise. */
  sandboxOffset(merchantId: string): number;
}

/**
 * Each merchant's sandbox clock: how far (ms) its sandbox is ahead of real time (domain/sandbox-clock.ts).
 * Moving it also moves the due times of the merchant's undelivered sandbox webhook messages, in the
 * same transaction, so that each fires when the sandbox reaches its moment.
 */
export interface SandboxClockStore {
  /** 0 when the merchant never advanced its clock (or reset it). */
  offset(merchantId: string): Promise<number>;
  /** Adds `ms` (> 0) to the offset, at most up to `maxOffsetMs`; returns the new offset, or undefined past the maximum (nothing changed). */
  advance(merchantId: string, ms: number, maxOffsetMs: number, now: number): Promise<number | undefined>;
  /** Back to real time; returns the offset it had. */
  reset(merchantId: string): Promise<number>;
}

/** The order processor's side: claims with a lease, "call started", outcomes, recovery. */
export interface ProcessingStore {
  /** Claim up to `limit` due PENDING production orders, oldest first: HANDLING, leased to `owner` until now + leaseMs. */
  claimOrders(input: { owner: string; now: number; leaseMs: number; limit: number }): Promise<OrderRecord[]>;
  /** Record that the gateway call is about to start (and the channel that makes it). False when the lease was lost (then the call must not be made). */
  markCallStarted(input: { orderId: string; owner: string; now: number; channel?: string }): Promise<boolean>;
  /**
   * Record a gateway outcome and its ledger effect in one transaction, as `decide` says given the order
   * as it is now: 'applied' (the lease held), 'late' (a definitive answer for an UNKNOWN_ERROR order,
   * audited), 'ignored' (nothing changed).
   */
  recordOutcome(input: { orderId: string; now: number; outcome: RecordedOutcome; decide: (current: OrderRecord) => OutcomeDecision }): Promise<'applied' | 'late' | 'ignored'>;
  /**
   * Orders whose lease expired: if the call never started, back to PENDING; if it started, UNKNOWN_ERROR
   * with an alert (never a refund, never a second send).
   */
  recoverExpiredLeases(input: { now: number; refundMessage: string; makeAlert: (order: OrderRecord) => OutboxMessage }): Promise<{ requeued: string[]; uncertain: OrderRecord[] }>;
}

/** The ledger: every movement of a balance. */
export interface LedgerStore {
  /** A merchant's entries, newest first in the ledger's own order. */
  listLedger(merchantId: string, page: PageRequest): Promise<PageResult<LedgerEntryRecord>>;
  /** Append a DEPOSIT and its audit record; refused (nothing written) when the new balance would exceed `maxBalance`. */
  creditWithAudit(input: { id: string; merchantId: string; amount: number; maxBalance: number; note: string; time: number; audit: AuditRecord }): Promise<
    { ok: true; entry: LedgerEntryRecord } | { ok: false; reason: 'BALANCE_LIMIT'; balance: number }
  >;
  /** Check the money invariants over the whole store; an empty list means they hold. */
  checkMoney(): Promise<MoneyViolation[]>;
}

/** Merchants, their keys, and admins. */
export interface AccountsStore {
  createMerchant(input: { merchant: MerchantRecord; keys: NewKey[]; deposit?: LedgerEntryRecord }): Promise<void>;
  findMerchantByUsername(username: string): Promise<MerchantRecord | undefined>;
  findMerchantById(id: string): Promise<MerchantRecord | undefined>;
  countMerchants(): Promise<number>;
  listMerchants(page: PageRequest): Promise<PageResult<MerchantRecord>>;
  findKeyByHash(keyHash: string): Promise<KeyRecord | undefined>;
  findKeyById(id: string): Promise<KeyRecord | undefined>;
  listKeys(merchantId: string): Promise<KeyRecord[]>;
  insertKeyWithAudit(merchantId: string, key: NewKey, now: number, audit: AuditRecord): Promise<void>;
  updateKey(id: string, patch: { isEnabled?: boolean; allowedIps?: string[]; scope?: KeyRecord['scope'] }, audit: AuditRecord): Promise<boolean>;
  /** Disable a key and add its replacement, in one transaction. */
  rotateKey(oldId: string, replacement: NewKey, now: number, audit: AuditRecord): Promise<boolean>;
  createAdmin(admin: AdminRecord): Promise<void>;
  findAdminByTokenHash(tokenHash: string): Promise<AdminRecord | undefined>;
  findAdminByName(name: string): Promise<AdminRecord | undefined>;
  findAdminById(id: string): Promise<AdminRecord | undefined>;
  /** Enable or disable an admin; disabling also ends its console sessions. With its audit record, in one transaction. */
  setAdminEnabled(id: string, isEnabled: boolean, audit: AuditRecord): Promise<void>;
}

/** Operators and plans. */
export interface CatalogueStore {
  listOperators(): Promise<OperatorRecord[]>;
  listPlans(): Promise<PlanRecord[]>;
  upsertCatalogue(operators: OperatorRecord[], plans: PlanRecord[]): Promise<void>;
  updatePlan(code: string, patch: Partial<Pick<PlanRecord, 'name' | 'isEnabled' | 'costPpm' | 'minAmount' | 'maxAmount' | 'amount'>>, audit: AuditRecord): Promise<PlanRecord | undefined>;
}

/** The web console: logins, sessions, chart data. */
export interface ConsoleStore {
  /** Set a login's password: inserts the login or replaces its hash (and ends its sessions). */
  setConsolePassword(login: ConsoleLoginRecord, audit: AuditRecord): Promise<void>;
  findConsoleLogin(login: string): Promise<ConsoleLoginRecord | undefined>;
  createConsoleSession(session: Omit<ConsoleSessionRecord, 'login'> & { loginId: string }): Promise<void>;
  /** A live session (expiresAt > now) with its login. */
  findConsoleSession(tokenHash: string, now: number): Promise<ConsoleSessionRecord | undefined>;
  deleteConsoleSession(tokenHash: string): Promise<void>;
  /** Orders created in [from, to) per bucket and visible status; all merchants when merchantId is absent. */
  orderStats(input: { merchantId?: string; env: Env; from: number; to: number; bucketMs: number; now: number; timeline: SandboxTimeline }): Promise<OrderStatsRow[]>;
  /** Production orders that became final in [from, to), per bucket of final_at and status (all merchants). */
  outcomeStats(input: { from: number; to: number; bucketMs: number }): Promise<OrderStatsRow[]>;
  /** Production orders open now: PENDING (queued) and HANDLING (with an operator). */
  countOpenOrders(): Promise<{ PENDING: number; HANDLING: number }>;
  /** Milliseconds from creation to the final state, production orders that became final in [from, to) (at most `limit`, newest first). */
  timesToFinal(input: { merchantId?: string; from: number; to: number; limit: number }): Promise<number[]>;
}

/** State shared by the API processes of one store. */
export interface GuardsStore {
  /** Count a failed key attempt from `ip` (within `windowMs` of its first); block it for `blockMs` at `max`. */
  recordAuthFailure(input: { ip: string; now: number; windowMs: number; max: number; blockMs: number }): Promise<{ failures: number; blockedUntil: number }>;
  /** Delete failure rows that no longer count: their window is over and they are not blocked. Returns how many. */
  purgeAuthFailures(now: number, windowMs: number): Promise<number>;
  /** IPs blocked at `now`. */
  blockedIps(now: number): Promise<{ ip: string; blockedUntil: number }[]>;
  /** Mark this API process alive; returns how many are alive (seen within `liveMs`). */
  heartbeat(id: string, now: number, liveMs: number): Promise<number>;
  removeInstance(id: string): Promise<void>;
}

/** The transactional outbox. Messages are written by the other areas' transactions; dispatchers deliver them. */
export interface OutboxStore {
  /** A message and its audit record, in one transaction (a message with no other change to go with). */
  enqueueWithAudit(message: OutboxMessage, audit: AuditRecord): Promise<void>;
  /** Undelivered messages of a kind that are due, oldest first (not claimed). */
  listDue(kind: OutboxMessage['kind'], now: number, limit: number): Promise<OutboxMessage[]>;
  /** Claim due messages of a kind for delivery: not due again for `leaseMs`, so another process's dispatcher does not take them meanwhile. */
  claimDue(kind: OutboxMessage['kind'], now: number, limit: number, leaseMs: number): Promise<OutboxMessage[]>;
  markDelivered(id: string, now: number): Promise<void>;
  markFailed(id: string, nextAttemptAt: number, error: string): Promise<void>;
  /** Undelivered messages per kind: still to be tried, given up (their schedule ran out), and when the oldest still to be tried was written. */
  backlog(): Promise<{ kind: string; pending: number; givenUp: number; oldestCreatedAt: number | null }[]>;
}

/** A gateway channel (a modem pool's SIM) as the process that drives it last published it. */
export interface ChannelRecord {
  gateway: string;
  channel: string;
  operator: string;
  usable: boolean;
  /** State, signal, balance, last answer, orders today… as the gateway reports them. */
  status: Record<string, unknown>;
  /** The process that drives the channel. */
  owner: string;
  updatedAt: number;
}

/** The gateways' channels, shared by every process of one store. */
export interface ChannelsStore {
  /**
   * Say what one process sees of a gateway's channels. A channel another owner published within
   * `staleMs` keeps that owner's word unless this one is usable.
   */
  publish(gateway: string, owner: string, now: number, channels: Omit<ChannelRecord, 'gateway' | 'owner' | 'updatedAt'>[], staleMs: number): Promise<void>;
  list(gateway?: string): Promise<ChannelRecord[]>;
}

/** The append-only audit trail of support and admin actions. */
export interface AuditStore {
  insertAudit(audit: AuditRecord): Promise<void>;
  listAudit(page: PageRequest & { target?: string }): Promise<PageResult<AuditRecord>>;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Apply pending migrations. Refuses a store whose schema is newer than this code. */
  migrate(): Promise<{ from: number; to: number }>;
  schemaVersion(): Promise<number>;
  /** A cheap round trip; throws when the store is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** PostgreSQL: this process's pool (connections open, idle, and requests waiting for one). */
  poolStats?(): { total: number; idle: number; waiting: number };
  readonly orders: OrdersStore;
  readonly processing: ProcessingStore;
  readonly ledger: LedgerStore;
  readonly accounts: AccountsStore;
  readonly catalogue: CatalogueStore;
  readonly console: ConsoleStore;
  readonly guards: GuardsStore;
  readonly outbox: OutboxStore;
  readonly audit: AuditStore;
  readonly channels: ChannelsStore;
  readonly webhooks: WebhookStore;
  readonly sandboxClocks: SandboxClockStore;
}

/** What a merchant's webhook endpoint is told about: an order's status, or a test (`ping`). */
export type WebhookEventType = 'topup.handling' | 'topup.fulfilled' | 'topup.refunded' | 'topup.unknown_error' | 'ping';

/** The event an order's status makes (PENDING makes none). */
export const WEBHOOK_EVENT_OF_STATUS: Readonly<Partial<Record<string, WebhookEventType>>> = Object.freeze({
  HANDLING: 'topup.handling',
  FULFILLED: 'topup.fulfilled',
  REFUNDED: 'topup.refunded',
  UNKNOWN_ERROR: 'topup.unknown_error',
});

export interface WebhookEndpointRecord {
  id: string;
  merchantId: string;
  env: Env;
  url: string;
  /** The event types it takes; empty: every type. */
  events: WebhookEventType[];
  description: string | null;
  /** `whsec_` + base64: signs every delivery. */
  secret: string;
  /** After a rotation, the old secret signs too until `previousSecretUntil`. */
  previousSecret: string | null;
  previousSecretUntil: number | null;
  createdAt: number;
  disabledAt: number | null;
  disabledReason: string | null;
  /** Since when its deliveries fail without a success in between; null while they succeed. */
  failingSince: number | null;
}

/** One event: the order as it was when it changed (the body of every attempt and replay is made from it). */
export interface WebhookEventRecord {
  id: string;
  merchantId: string;
  env: Env;
  /** Empty for a test event. */
  orderId: string;
  type: WebhookEventType;
  /** The order's event counter: a receiver drops an event whose sequence is not above the last it saw. */
  sequence: number;
  /** 'support' when support resolved the order. */
  resolvedBy: string | null;
  snapshot: OrderRecord | null;
  createdAt: number;
}

/** One attempt to deliver a webhook message, as the dispatcher saw it. */
export interface WebhookAttemptRecord {
  /** 1 for the first attempt of the message. */
  attempt: number;
  at: number;
  durationMs: number;
  /** The endpoint's HTTP status (null: no answer: refused, timed out, connection lost). */
  status: number | null;
  /** The start of the endpoint's answer body, truncated. */
  response: string | null;
  /** Why the attempt failed (null: delivered). */
  error: string | null;
}

export interface WebhookStore {
  createEndpoint(e: WebhookEndpointRecord): Promise<void>;
  /** A merchant's endpoints in one environment (not deleted), oldest first. */
  listEndpoints(merchantId: string, env: Env): Promise<WebhookEndpointRecord[]>;
  /** An endpoint that is not deleted. */
  getEndpoint(id: string): Promise<WebhookEndpointRecord | undefined>;
  /** Delete a merchant's endpoint (its undelivered messages are dropped); false when it is not theirs. */
  deleteEndpoint(id: string, merchantId: string, env: Env, now: number): Promise<boolean>;
  /** A new secret; the old one signs alongside it until `previousUntil`. */
  rotateSecret(id: string, secret: string, previousUntil: number): Promise<void>;
  /** Disable an endpoint with its support alert and audit record, in one transaction; false when it was already disabled (nothing written). */
  disableEndpoint(id: string, now: number, reason: string, alert: OutboxMessage, audit: AuditRecord): Promise<boolean>;
  setFailingSince(id: string, since: number | null): Promise<void>;
  getEvent(id: string): Promise<WebhookEventRecord | undefined>;
  /** An endpoint's deliveries (its outbox messages), newest first. */
  listDeliveries(endpointId: string, req: PageRequest): Promise<PageResult<OutboxMessage>>;
  /**
   * Deliver again to one endpoint every event of its merchant and environment created in [from, to]
   * that it takes (same event ids, new messages); at most `limit`. Returns how many.
   */
  replay(endpoint: WebhookEndpointRecord, from: number, to: number, now: number, limit: number): Promise<number>;
  /** A test event (`ping`) and its message for one endpoint, in one transaction. */
  enqueueTest(endpoint: WebhookEndpointRecord, eventId: string, now: number): Promise<void>;
  /**
   * Record an attempt and its consequence for the message in one transaction: delivered, or due
   * again at `nextAttemptAt` (Number.MAX_SAFE_INTEGER: given up). An attempt already recorded under
   * that number (two dispatchers after a lost lease) is kept as it was.
   */
  finishAttempt(messageId: string, attempt: WebhookAttemptRecord, next: { deliveredAt: number } | { nextAttemptAt: number; lastError: string }): Promise<void>;
  /**
   * Claim due webhook messages endpoint by endpoint, the endpoint whose oldest message is due the
   * longest first: at most `free(endpointId)` of each endpoint's, at most `limit` in all, each not due
   * again for `leaseMs`. An endpoint's backlog is reached by its own index range, never scanned past.
   */
  claimWebhooks(now: number, limit: number, leaseMs: number, free: (endpointId: string) => number): Promise<OutboxMessage[]>;
  /** One delivery (outbox message) of an endpoint. */
  getDelivery(endpointId: string, messageId: string): Promise<OutboxMessage | undefined>;
  /** A message's attempts, first first. */
  listAttempts(messageId: string): Promise<WebhookAttemptRecord[]>;
  /** Enable a merchant's disabled endpoint again (its failure streak forgotten) with its audit record; false when it is not theirs or not disabled (nothing written). */
  enableEndpoint(id: string, merchantId: string, env: Env, audit: AuditRecord): Promise<boolean>;
}
