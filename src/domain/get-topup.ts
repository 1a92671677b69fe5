/** check-id and check-ref. Another merchant's order, or the other environment's, is simply not found. */
import { AppError } from '@shahn/contract/core';
import type { TopupOut } from '@shahn/contract';
import type { KeyRecord } from '../store/store.js';
import type { Deps } from './deps.js';
import { presentTopup } from './present.js';
import { readingTime } from './sandbox-clock.js';

export async function getTopupById(deps: Pick<Deps, 'store' | 'clock' | 'config'>, options: { key: KeyRecord; id: string }): Promise<TopupOut> {
  // The order and its reading time (a sandbox key's clock offset) at once: one wait, not two.
  const [order, now] = await Promise.all([deps.store.orders.findOrderById(options.key.merchantId, options.key.type, options.id), readingTime(deps, options.key.merchantId, options.key.type)]);
  if (!order) throw new AppError('NOT_FOUND', `Top-up with id '${options.id}' not found`);
  return presentTopup(order, now, deps.config.sandbox);
}

export async function getTopupByRef(deps: Pick<Deps, 'store' | 'clock' | 'config'>, options: { key: KeyRecord; ref: string }): Promise<TopupOut> {
  const [order, now] = await Promise.all([deps.store.orders.findOrderByRef(options.key.merchantId, options.key.type, options.ref), readingTime(deps, options.key.merchantId, options.key.type)]);
  if (!order) throw new AppError('NOT_FOUND', `Top-up with reference '${options.ref}' not found`);
  return presentTopup(order, now, deps.config.sandbox);
}
