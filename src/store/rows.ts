/** Row shapes shared by the SQL stores (the same columns on SQLite and PostgreSQL) and their mappers. */
import type { AdminRecord, ConsoleLoginRecord, MerchantRecord, OutboxMessage, AuditRecord, Env, KeyRecord, LedgerEntryRecord, OrderRecord, PlanRecord } from './store.js';

export interface OrderRow {
  id: string;
  merchant_id: string;
  env: Env;
  ref: string;
  status: OrderRecord['status'];
  plan_code: string;
  mssidn: string;
  topup_amount: number;
  charge: number;
  created_at: number;
  updated_at: number;
  refund_message: string | null;
  suggested_offers: string | null;
  follow_orderid: string | null;
  retry_orderid: string | null;
  sandbox_scenario: OrderRecord['sandboxScenario'];
  call_started_at?: number | null;
  lease_owner?: string | null;
  gateway_channel?: string | null;
  gateway_trace?: string | null;
  final_at?: number | null;
  attempts?: number;
}

/** The columns reads need (not the processor's lease bookkeeping). */
export const ORDER_COLUMNS =
  'id, merchant_id, env, ref, status, plan_code, mssidn, topup_amount, charge, created_at, updated_at, refund_message, suggested_offers, follow_orderid, retry_orderid, sandbox_scenario';

export interface LedgerRow {
  id: string;
  merchant_id: string;
  type: LedgerEntryRecord['type'];
  operation: LedgerEntryRecord['operation'];
  amount: number;
  old_balance: number;
  new_balance: number;
  objid: string;
  note: string;
  time: number;
  counter_account: string;
}

export function toOrder(r: OrderRow): OrderRecord {
  return {
    id: r.id,
    merchantId: r.merchant_id,
    env: r.env,
    ref: r.ref,
    status: r.status,
    planCode: r.plan_code,
    mssidn: r.mssidn,
    topupAmount: r.topup_amount,
    charge: r.charge,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    refundMessage: r.refund_message,
    suggestedOffers: r.suggested_offers === null ? null : (JSON.parse(r.suggested_offers) as OrderRecord['suggestedOffers']),
    followOrderId: r.follow_orderid,
    retryOrderId: r.retry_orderid,
    sandboxScenario: r.sandbox_scenario,
    callStartedAt: r.call_started_at ?? null,
    leaseOwner: r.lease_owner ?? null,
    gatewayChannel: r.gateway_channel ?? null,
    gatewayTrace: r.gateway_trace ?? null,
    finalAt: r.final_at ?? null,
    attempts: r.attempts ?? 0,
  };
}

export function toLedger(r: LedgerRow): LedgerEntryRecord {
  return {
    id: r.id,
    merchantId: r.merchant_id,
    type: r.type,
    operation: r.operation,
    amount: r.amount,
    oldBalance: r.old_balance,
    newBalance: r.new_balance,
    objid: r.objid,
    note: r.note,
    time: r.time,
    counterAccount: r.counter_account,
  };
}


export interface KeyRow {
  id: string; merchant_id: string; username: string; key_hash: string; type: KeyRecord['type'];
  scope: KeyRecord['scope']; is_enabled: number; allowed_ips: string; created_at: number;
}

export const KEY_COLUMNS = `k.id, k.merchant_id, m.username, k.key_hash, k.type, k.scope, k.is_enabled, k.allowed_ips, k.created_at`;

export function toKey(r: KeyRow): KeyRecord {
  return {
    id: r.id,
    merchantId: r.merchant_id,
    username: r.username,
    keyHash: r.key_hash,
    type: r.type,
    scope: r.scope,
    isEnabled: r.is_enabled === 1,
    allowedIps: JSON.parse(r.allowed_ips) as string[],
    createdAt: r.created_at,
  };
}

export interface PlanRow {
  code: string; name: string; operator: string; kind: PlanRecord['kind']; cost_ppm: number | null; is_enabled: number;
  min_amount: number | null; max_amount: number | null; amount: number | null; is_menu: number; position: number;
}

export function toPlan(r: PlanRow): PlanRecord {
  return {
    code: r.code,
    name: r.name,
    operator: r.operator,
    kind: r.kind,
    costPpm: r.cost_ppm,
    isEnabled: r.is_enabled === 1,
    minAmount: r.min_amount,
    maxAmount: r.max_amount,
    amount: r.amount,
    isMenu: r.is_menu === 1,
    position: r.position,
  };
}

export interface AuditRow { id: string; at: number; actor: string; action: string; target: string; reason: string; details: string }

export function toAudit(r: AuditRow): AuditRecord {
  return { ...r, details: JSON.parse(r.details) as Record<string, unknown> };
}

export interface OutboxRow {
  id: string; kind: OutboxMessage['kind']; topic: string; subject: string; payload: string; created_at: number; attempts: number;
  next_attempt_at: number; delivered_at: number | null; last_error: string | null;
}

export function toOutbox(r: OutboxRow): OutboxMessage {
  return {
    id: r.id,
    kind: r.kind,
    topic: r.topic,
    subject: r.subject,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
    createdAt: r.created_at,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    deliveredAt: r.delivered_at,
    lastError: r.last_error,
  };
}

export interface AdminRow { id: string; name: string; token_hash: string; is_enabled: number; created_at: number }

export function toAdmin(r: AdminRow): AdminRecord {
  return { id: r.id, name: r.name, tokenHash: r.token_hash, isEnabled: r.is_enabled === 1, createdAt: r.created_at };
}

/** The columns an order is inserted with, in the order of orderArgs(). */
export const ORDER_INSERT_COLUMNS =
  'id, merchant_id, env, ref, status, plan_code, mssidn, topup_amount, charge, created_at, updated_at, refund_message, suggested_offers, follow_orderid, retry_orderid, sandbox_scenario';

/** Order record → the values of ORDER_INSERT_COLUMNS. */
export function orderArgs(o: OrderRecord): unknown[] {
  return [
    o.id, o.merchantId, o.env, o.ref, o.status, o.planCode, o.mssidn, o.topupAmount, o.charge, o.createdAt, o.updatedAt, o.refundMessage,
    o.suggestedOffers === null ? null : JSON.stringify(o.suggestedOffers), o.followOrderId, o.retryOrderId, o.sandboxScenario,
  ];
}

/**
 * The status a reader sees, as SQL: a production order's stored status; a sandbox order's derived
 * from its age exactly as domain/sandbox.ts sandboxView() does. The arguments are SQL placeholders
 * (or literals) for the time of reading and the sandbox timeline's three durations.
 */
export function visibleStatusSql(now: string, pendingMs: string, finalMs: string, unknownMs: string): string {
  return `(CASE WHEN env = 'PRODUCTION' OR status IN ('FULFILLED', 'REFUNDED') THEN status
    WHEN created_at > ${now} - ${pendingMs} THEN 'PENDING'
    WHEN created_at > ${now} - ${finalMs} THEN 'HANDLING'
    WHEN sandbox_scenario IS NULL OR sandbox_scenario = 'FULFILLED' THEN 'FULFILLED'
    WHEN sandbox_scenario = 'UNKNOWN' AND created_at > ${now} - ${unknownMs} THEN 'UNKNOWN_ERROR'
    ELSE 'REFUNDED' END)`;
}

export interface ConsoleLoginRow {
  id: string;
  role: 'admin' | 'merchant';
  login: string;
  subject_id: string;
  password_hash: string;
  created_at: number;
  updated_at: number;
}

export function toConsoleLogin(r: ConsoleLoginRow): ConsoleLoginRecord {
  return { id: r.id, role: r.role, login: r.login, subjectId: r.subject_id, passwordHash: r.password_hash, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) };
}

export interface MerchantRow {
  id: string;
  username: string;
  balance: number;
  created_at: number;
}

export function toMerchant(r: MerchantRow): MerchantRecord {
  return { id: r.id, username: r.username, balance: r.balance, createdAt: r.created_at };
}
