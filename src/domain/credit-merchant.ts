/** Record a DEPOSIT: the only way money enters a merchant's balance. */
import { validationError } from '../contract/errors.js';
import { newObjectId } from '../lib/ids.js';
import { dzdToCentimes } from '../lib/money.js';
import type { LedgerEntryRecord } from '../store/store.js';
import type { Deps } from './deps.js';
import { parseDzdAmount } from './parse-dzd-amount.js';

export async function creditMerchant(
  deps: Pick<Deps, 'store' | 'clock'>,
  options: { username: string; amount: number | string; note?: string },
): Promise<LedgerEntryRecord> {
  const amount = dzdToCentimes(parseDzdAmount(options.amount, 'amount'));
  const merchant = await deps.store.findMerchantByUsername(options.username.trim());
  if (!merchant) throw validationError('body', 'username', 'is not a merchant', options.username, 'unknown_merchant');
  const now = deps.clock.now();
  return deps.store.credit({
    id: newObjectId(now),
    merchantId: merchant.id,
    amount,
    note: options.note?.slice(0, 500) ?? 'Deposit',
    time: now,
  });
}
