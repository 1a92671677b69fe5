/**
 * Support resolves an UNKNOWN_ERROR order to FULFILLED or REFUNDED, exactly once: two agents at
 * once, one wins and the other gets CONFLICT. A REFUNDED production order gets its refund entry in
 * the same transaction, with the audit record.
 *
 * The uncertainty notice goes: a FULFILLED order carries no refund_message; a REFUNDED one carries
 * the message support chose for the customer (Arabic, shown as is), by default
 * MESSAGES.REFUNDED_AFTER_REVIEW ("the top-up did not go through, and the amount has been refunded").
 */
import { AppError, MESSAGES, validationError } from '@shahn/contract/core';
import type { TopupOut } from '@shahn/contract';
import type { Deps } from '../domain/deps.js';
import { presentTopup } from '../domain/present.js';
import { findOrderForSupport } from './find-order.js';
import { newObjectId } from '../lib/ids.js';
import { auditRecord } from './audit.js';
import { refundNote } from '../domain/order-rules.js';

export async function resolveOrder(
  deps: Pick<Deps, 'store' | 'clock' | 'config' | 'metrics'>,
  options: { actor: string; orderId: string; to: 'FULFILLED' | 'REFUNDED'; reason: string; refundMessage?: string | undefined },
): Promise<TopupOut> {
  const reason = options.reason.trim();
  if (!reason) throw validationError('body', 'reason', 'is required: say why (what the operator or the customer confirmed)', undefined, 'required');
  const refundMessage = refundMessageFor(options.to, options.refundMessage);
  const { order, now, visible } = await findOrderForSupport(deps, options.orderId);
  if (visible !== 'UNKNOWN_ERROR') {
    throw new AppError('CONFLICT', `Only an UNKNOWN_ERROR order can be resolved; this one is ${visible}`, { status: visible });
  }
  const result = await deps.store.orders.resolveOrder({
    orderId: order.id,
    to: options.to,
    expectStatus: order.env === 'SANDBOX' ? 'PENDING' : 'UNKNOWN_ERROR',
    now,
    refund: { id: newObjectId(now), note: refundNote(order) },
    refundMessage,
    audit: auditRecord(now, options.actor, `order.resolve.${options.to.toLowerCase()}`, order.id, reason, {
      merchantId: order.merchantId,
      env: order.env,
      charge: order.charge,
      ...(refundMessage !== null ? { refundMessage } : {}),
    }),
  });
  if (!result.ok) {
    if (result.reason === 'NOT_FOUND') throw new AppError('NOT_FOUND', `Top-up with id '${options.orderId}' not found`);
    throw new AppError('CONFLICT', `The order was resolved meanwhile; it is ${result.status}`, { status: result.status });
  }
  deps.metrics.transition(order.env, options.to);
  return presentTopup(result.order, now, deps.config.sandbox);
}

/** The customer's message for a resolution: none for FULFILLED; support's text or the standard one for REFUNDED. */
function refundMessageFor(to: 'FULFILLED' | 'REFUNDED', given: string | undefined): string | null {
  const text = given?.trim();
  if (to === 'FULFILLED') {
    if (text) throw validationError('body', 'refundMessage', 'is only for a REFUNDED resolution (a FULFILLED order carries no refund message)', given, 'not_allowed');
    return null;
  }
  if (!text) return MESSAGES.REFUNDED_AFTER_REVIEW;
  if (text.length > 500) throw validationError('body', 'refundMessage', 'must be at most 500 characters', undefined, 'maxLength');
  return text;
}
