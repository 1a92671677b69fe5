/**
 * Support resolves an UNKNOWN_ERROR order to FULFILLED or REFUNDED, exactly once: two agents at
 * once, one wins and the other gets CONFLICT. A REFUNDED production order gets its refund entry in
 * the same transaction, with the audit record.
 */
import { AppError, validationError } from '@shahn/contract';
import type { TopupOut } from '@shahn/contract';
import type { Deps } from '../domain/deps.js';
import { presentTopup } from '../domain/present.js';
import { findOrderForSupport } from './find-order.js';
import { newObjectId } from '../lib/ids.js';
import { auditRecord } from './audit.js';

export async function resolveOrder(
  deps: Pick<Deps, 'store' | 'clock' | 'config'>,
  options: { actor: string; orderId: string; to: 'FULFILLED' | 'REFUNDED'; reason: string },
): Promise<TopupOut> {
  const reason = options.reason.trim();
  if (!reason) throw validationError('body', 'reason', 'is required: say why (what the operator or the customer confirmed)', undefined, 'required');
  const { order, now, visible } = await findOrderForSupport(deps, options.orderId);
  if (visible !== 'UNKNOWN_ERROR') {
    throw new AppError('CONFLICT', `Only an UNKNOWN_ERROR order can be resolved; this one is ${visible}`, { status: visible });
  }
  const result = await deps.store.resolveOrder({
    orderId: order.id,
    to: options.to,
    expectStatus: order.env === 'SANDBOX' ? 'PENDING' : 'UNKNOWN_ERROR',
    now,
    refundEntryId: newObjectId(now),
    audit: auditRecord(now, options.actor, `order.resolve.${options.to.toLowerCase()}`, order.id, reason, {
      merchantId: order.merchantId,
      env: order.env,
      charge: order.charge,
    }),
  });
  if (!result.ok) {
    if (result.reason === 'NOT_FOUND') throw new AppError('NOT_FOUND', `Top-up with id '${options.orderId}' not found`);
    throw new AppError('CONFLICT', `The order was resolved meanwhile; it is ${result.status}`, { status: result.status });
  }
  return presentTopup(result.order, now, deps.config.sandboxUnknownResolveMs);
}
