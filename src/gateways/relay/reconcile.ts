/**
 * Reconciliation of a relay gateway with its upstream: every relayed order of a window compared with
 * the upstream's orders (`GET /v3/mobile/list`) and debits (`GET /v3/account/transactions`).
 *
 * A mismatch is one of:
 * - `status`: both sides hold the order and their statuses disagree (one final and the other not, or
 *   two different final statuses). A local UNKNOWN_ERROR whose upstream order is final is one too:
 *   the follower should have settled it, or support decided against the upstream.
 * - `missing-upstream`: a local order the upstream took (its call started, no refusal recorded) that
 *   the upstream does not list.
 * - `missing-local`: an upstream order with one of our refs (`shahn.<order id>`) and no such local order.
 * - `charge`: the upstream's net debit for one of our orders (FLEXY debits less REFUND-FLEXY credits)
 *   is not what that order costs there (its `balance_amount`, or 0 once REFUNDED).
 */
import type { Shahn, Topup, Transaction } from '@shahn/sdk';
import type { OrderRecord } from '../../store/store.js';
import { relayRef } from './relay-config.js';

export interface Mismatch {
  kind: 'status' | 'missing-upstream' | 'missing-local' | 'charge';
  ref: string;
  orderId: string | null;
  topupId: string | null;
  local: string | null;
  upstream: string | null;
  detail: string;
}

export interface ReconcileResult {
  gateway: string;
  from: string;
  to: string;
  localOrders: number;
  upstreamOrders: number;
  /** Whether debits were compared: a SANDBOX upstream key moves no money. */
  chargesCompared: boolean;
  mismatches: Mismatch[];
}

export interface ReconcileSource {
  /** Local production orders relayed through this gateway, created in the window. */
  localOrders(from: number, to: number): Promise<OrderRecord[]>;
  /** A local order by id, any channel (for upstream orders outside the local list). */
  findOrder(id: string): Promise<OrderRecord | undefined>;
}

const FINAL = ['FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR'];
/** How far the upstream's clock and ours may disagree around the window (ms). */
const SKEW_MS = 10 * 60_000;

/** The local order id of one of our refs, or undefined for a ref that is not ours. */
function orderIdOf(ref: string): string | undefined {
  const id = ref.startsWith('shahn.') ? ref.slice('shahn.'.length) : undefined;
  return id && /^[0-9a-f]{24}$/.test(id) ? id : undefined;
}

/** Did the upstream take this order (it counts as sent, and no refusal before that is recorded)? */
function expectedUpstream(o: OrderRecord): boolean {
  if (o.callStartedAt === null || o.callStartedAt === undefined) return false;
  try {
    const lines = (o.gatewayTrace ?? '').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    return !lines.some((l) => l.refused !== undefined);
  } catch {
    return true;
  }
}

export async function reconcileRelay(gateway: string, client: Shahn, source: ReconcileSource, from: number, to: number): Promise<ReconcileResult> {
  const local = await source.localOrders(from, to);
  const chargesCompared = (await client.validate()).apiKey.type !== 'SANDBOX';
  const upstream = new Map<string, Topup>();
  for await (const t of client.mobile.list({ from: new Date(from - SKEW_MS).toISOString(), to: new Date(to + SKEW_MS).toISOString(), pageSize: 100 })) {
    if (orderIdOf(t.ref)) upstream.set(t.ref, t);
  }
  // Debits and refunds of our upstream orders, from the window's start until now (a refund comes later).
  const net = new Map<string, number>();
  if (chargesCompared) {
    const window = { from: new Date(from - SKEW_MS).toISOString(), to: new Date(Math.max(to, Date.now()) + SKEW_MS).toISOString(), pageSize: 100 };
    for await (const tx of client.account.transactions(window) as AsyncIterable<Transaction>) {
      if (tx.type !== 'FLEXY' && tx.type !== 'REFUND-FLEXY') continue;
      const signed = tx.operation === 'DECREMENT' ? tx.amount : -tx.amount;
      net.set(tx.objid, Math.round(((net.get(tx.objid) ?? 0) + signed) * 100) / 100);
    }
  }
  const mismatches: Mismatch[] = [];
  const seenRefs = new Set<string>();
  for (const o of local) {
    const ref = relayRef(o.id);
    seenRefs.add(ref);
    const t = upstream.get(ref);
    if (!t) {
      if (expectedUpstream(o)) mismatches.push({ kind: 'missing-upstream', ref, orderId: o.id, topupId: null, local: o.status, upstream: null, detail: `order ${o.id} (${o.status}) is not in the upstream's list` });
      continue;
    }
    const localFinal = FINAL.includes(o.status);
    const upFinal = FINAL.includes(t.status);
    const differ = (localFinal || upFinal) && o.status !== t.status;
    if (differ) mismatches.push({ kind: 'status', ref, orderId: o.id, topupId: t._id, local: o.status, upstream: t.status, detail: `order ${o.id} is ${o.status} here and ${t.status} upstream (${t._id})` });
  }
  for (const [ref, t] of upstream) {
    if (!seenRefs.has(ref)) {
      const id = orderIdOf(ref)!;
      // Listed with a little slack around the window: only an order we do not have at all is missing.
      if (!(await source.findOrder(id))) mismatches.push({ kind: 'missing-local', ref, orderId: id, topupId: t._id, local: null, upstream: t.status, detail: `the upstream order ${t._id} (${t.status}) has our ref ${ref} but there is no order ${id} here` });
    }
    const created = Date.parse(t.created_at);
    if (!chargesCompared) continue;
    if (Number.isFinite(created) && (created < from - SKEW_MS || created > to + SKEW_MS)) continue;
    const expected = t.status === 'REFUNDED' ? 0 : t.balance_amount;
    const debited = net.get(t._id) ?? 0;
    if (Math.abs(debited - expected) >= 0.01) {
      mismatches.push({ kind: 'charge', ref, orderId: orderIdOf(ref) ?? null, topupId: t._id, local: null, upstream: t.status, detail: `the upstream debited ${debited} DA for ${t._id} (${t.status}), which costs ${expected} DA` });
    }
  }
  return { gateway, from: new Date(from).toISOString(), to: new Date(to).toISOString(), localOrders: local.length, upstreamOrders: upstream.size, chargesCompared, mismatches };
}
