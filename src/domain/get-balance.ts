import { AppError } from '@shahn/contract/core';
import type { BalanceDataOut } from '@shahn/contract';
import { centimesToDzd } from '../lib/money.js';
import type { KeyRecord } from '../store/store.js';
import type { Deps } from './deps.js';

/** GET /v3/account/balance. Sandbox activity never changes it. */
export async function getBalance(deps: Pick<Deps, 'store'>, options: { key: KeyRecord }): Promise<BalanceDataOut> {
  const merchant = await deps.store.accounts.findMerchantById(options.key.merchantId);
  if (!merchant) throw new AppError('NOT_FOUND', 'Account not found');
  return { balance: centimesToDzd(merchant.balance), currency: 'DZD' };
}
