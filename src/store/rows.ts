/** Row shapes shared by the SQL stores (the same columns on SQLite and PostgreSQL) and their mappers. */
import type { SandboxTimeline } from '../lib/sandbox-timeline.js';
import type { AdminRecord, ConsoleLoginRecord, MerchantRecord, OutboxMessage, AuditRecord, Env, KeyRecord, LedgerEntryRecord, OrderRecord, PlanRecord, SandboxScenario } from './store.js';

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
  sandbox_scenario: BaseScenario | null;
  /** 0600000004–07: the twist on sandbox_scenario (migration 13). */
  sandbox_case?: SandboxCase | null;
  call_started_at?: number | null;
  lease_owner?: string | null;
  gateway_channel?: string | null;
  gateway_trace?: string | null;
  final_at?: number | null;
  attempts?: number;
}

/** The columns reads need (not the processor's lease bookkeeping). */
export const ORDER_COLUMNS =
  'id, merchant_id, env, ref, status, plan_code, mssidn, topup_amount, charge, created_at, updated_at, refund_message, suggested_offers, follow_orderid, retry_orderid, sandbox_scenario, sandbox_case';

type SandboxCase = 'LATE_FULFILLED' | 'LATE_REFUNDED' | 'OUTAGE' | 'LOST_REPLY';
type BaseScenario = Exclude<SandboxScenario, SandboxCase>;
/**
 * The stored form of a sandbox scenario: sandbox_scenario keeps the five of the first schema (its CHECK
 * constraint), sandbox_case the test numbers 0600000004–07 beside the scenario each starts as.
 */
const CASE_BASE: Record<SandboxCase, BaseScenario> = { LATE_FULFILLED: 'UNKNOWN', LATE_REFUNDED: 'UNKNOWN', OUTAGE: 'FULFILLED', LOST_REPLY: 'FULFILLED' };
function storedScenario(s: SandboxScenario | null): [BaseScenario | null, SandboxCase | null] {
  if (s === null) return [null, null];
  return s in CASE_BASE ? [CASE_BASE[s as SandboxCase], s as SandboxCase] : [s as BaseScenario, null];
}

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
    sandboxScenario: r.sandbox_case ?? r.sandbox_scenario,
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
  'id, merchant_id, env, ref, status, plan_code, mssidn, topup_amount, charge, created_at, updated_at, refund_message, suggested_offers, follow_orderid, retry_orderid, sandbox_scenario, sandbox_case';

/** Order record → the values of ORDER_INSERT_COLUMNS. */
export function orderArgs(o: OrderRecord): unknown[] {
  return [
    o.id, o.merchantId, o.env, o.ref, o.status, o.planCode, o.mssidn, o.topupAmount, o.charge, o.createdAt, o.updatedAt, o.refundMessage,
    o.suggestedOffers === null ? null : JSON.stringify(o.suggestedOffers), o.followOrderId, o.retryOrderId, ...storedScenario(o.sandboxScenario),
  ];
}

/**
 * The status a reader sees, as SQL: a production order's stored status; a sandbox order's derived
 * from its age exactly as domain/sandbox.ts sandboxView() does, the age taken on its merchant's sandbox
 * clock (the real time `now` plus the merchant's offset in sandbox_clocks). `now` is an SQL
 * placeholder (or literal); the durations are the timeline's, written in as integers.
 */
export function visibleStatusSql(now: string, t: SandboxTimeline): string {
  const n = (v: number) => String(Math.trunc(v));
  const at = `(${now} + COALESCE((SELECT c.offset_ms FROM sandbox_clocks c WHERE c.merchant_id = orders.merchant_id), 0))`;
  const handled = n(t.finalMs - t.pendingMs);
  return `(CASE WHEN env = 'PRODUCTION' OR status IN ('FULFILLED', 'REFUNDED') THEN status
    WHEN sandbox_case = 'OUTAGE' THEN (CASE WHEN created_at > ${at} - ${n(t.outageMs)} THEN 'PENDING'
      WHEN created_at > ${at} - ${n(t.outageMs)} - ${handled} THEN 'HANDLING' ELSE 'FULFILLED' END)
    WHEN created_at > ${at} - ${n(t.pendingMs)} THEN 'PENDING'
    WHEN created_at > ${at} - ${n(t.finalMs)} THEN 'HANDLING'
    WHEN sandbox_case IN ('LATE_FULFILLED', 'LATE_REFUNDED') THEN (CASE WHEN created_at > ${at} - ${n(t.lateAnswerMs)} THEN 'UNKNOWN_ERROR'
      WHEN sandbox_case = 'LATE_FULFILLED' THEN 'FULFILLED' ELSE 'REFUNDED' END)
    WHEN sandbox_scenario IS NULL OR sandbox_scenario = 'FULFILLED' THEN 'FULFILLED'
    WHEN sandbox_scenario = 'UNKNOWN' AND created_at > ${at} - ${n(t.unknownResolveMs)} THEN 'UNKNOWN_ERROR'
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
