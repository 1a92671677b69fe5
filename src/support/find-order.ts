/** The order a support action is about, and the status its merchant sees now (a sandbox order's is derived). */
import { AppError } from '@shahn/contract/core';
import type { TopupStatus } from '@shahn/contract';
import type { Deps } from '../domain/deps.js';
import { sandboxView } from '../domain/sandbox.js';
import { readingTime } from '../domain/sandbox-clock.js';
import type { OrderRecord } from '../store/store.js';
import { presentSupportOrder } from './list-uncertain-orders.js';
import { presentAudit } from './audit.js';

export async function findOrderForSupport(
  deps: Pick<Deps, 'store' | 'clock' | 'config'>,
  orderId: string,
): Promise<{ order: OrderRecord; now: number; visible: TopupStatus }> {
  const order = await deps.store.orders.findOrderAnywhere(orderId);
  if (!order) throw new AppError('NOT_FOUND', `Top-up with id '${orderId}' not found`);
  const now = deps.clock.now();
  const visible = order.env === 'SANDBOX' ? sandboxView(order, await readingTime(deps, order.merchantId, 'SANDBOX'), deps.config.sandbox).status : order.status;
  return { order, now, visible };
}

/** One order of any merchant as support sees it, with its audit trail (newest first, at most 100). */
export async function getOrderWithAudit(deps: Pick<Deps, 'store' | 'clock' | 'config'>, orderId: string) {
  const order = await deps.store.orders.findOrderAnywhere(orderId);
  if (!order) throw new AppError('NOT_FOUND', `Top-up with id '${orderId}' not found`);
  const audit = await deps.store.audit.listAudit({ offset: 0, limit: 100, target: order.id });
  return { order: await presentSupportOrder(deps, order), gateway: presentGatewayCall(order), audit: audit.items.map(presentAudit) };
}

/**
 * Where an order's call went and what came back, for support: the channel (a SIM's name), when the
 * call started, and each answer recorded (the call's, a late confirmation's) as the gateway wrote it.
 */
export function presentGatewayCall(order: OrderRecord) {
  if (!order.callStartedAt && !order.gatewayChannel && !order.gatewayTrace) return null;
  const answers = (order.gatewayTrace ?? '').split('\n').filter(Boolean).map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { text: line };
    }
  });
  return { channel: order.gatewayChannel ?? null, callStartedAt: order.callStartedAt ? new Date(order.callStartedAt).toISOString() : null, answers };
}
