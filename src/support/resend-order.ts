/**
 * Support re-sends a REFUNDED order as a new order (charged again in production), linked both ways:
 * the original gets retry_orderid, the new one follow_orderid. Once per original.
 */
import { AppError, validationError } from '@shahn/contract/core';
import type { SendDataOut } from '@shahn/contract';
import type { Deps } from '../domain/deps.js';
import { findOrderForSupport } from './find-order.js';
import { newObjectId } from '../lib/ids.js';
import { centimesToDzd } from '../lib/money.js';
import type { OrderRecord } from '../store/store.js';
import { auditRecord } from './audit.js';
import { mayResend, resendNote } from '../domain/order-rules.js';

export async function resendOrder(
  deps: Pick<Deps, 'store' | 'clock' | 'config' | 'queued'>,
  options: { actor: string; orderId: string; reason: string },
): Promise<SendDataOut> {
  const reason = options.reason.trim();
  if (!reason) throw validationError('body', 'reason', 'is required', undefined, 'required');
  const { order: original, now, visible } = await findOrderForSupport(deps, options.orderId);
  if (visible !== 'REFUNDED') throw new AppError('CONFLICT', `Only a REFUNDED order can be re-sent; this one is ${visible}`, { status: visible });
  if (original.retryOrderId) {
    throw new AppError('CONFLICT', `The order was already re-sent as ${original.retryOrderId}`, { status: visible, retry_orderid: original.retryOrderId });
  }
  const id = newObjectId(now);
  const order: OrderRecord = {
    ...original,
    id,
    ref: `${original.ref.slice(0, 110)}-retry-${id.slice(-6)}`,
    status: 'PENDING',
    createdAt: now,
    updatedAt: now,
    refundMessage: null,
    suggestedOffers: null,
    followOrderId: original.id,
    retryOrderId: null,
    // A sandbox re-send of a test number behaves like a normal number.
    sandboxScenario: original.env === 'SANDBOX' ? 'FULFILLED' : null,
  };
  const result = await deps.store.orders.resendOrder({
    originalId: original.id,
    order,
    charge: { entryId: newObjectId(now), note: resendNote(original.id) },
    mayResend,
    audit: auditRecord(now, options.actor, 'order.resend', original.id, reason, { newOrderId: id }),
  });
  if (!result.ok) {
    if (result.reason === 'NOT_FOUND') throw new AppError('NOT_FOUND', `Top-up with id '${options.orderId}' not found`);
    if (result.reason === 'INSUFFICIENT_BALANCE') {
      throw new AppError('INSUFFICIENT_BALANCE', undefined, { required: centimesToDzd(order.charge), available: centimesToDzd(result.available) });
    }
    if (result.reason === 'DUPLICATED_REF') throw new AppError('CONFLICT', 'The re-send reference is taken', { ref: order.ref });
    throw new AppError('CONFLICT', `The order was already re-sent`, { status: result.status, retry_orderid: result.retryOrderId });
  }
  if (order.env === 'PRODUCTION') deps.queued.notify();
  return { topupId: id, topupRef: order.ref, newBalance: centimesToDzd(result.balance) };
}
