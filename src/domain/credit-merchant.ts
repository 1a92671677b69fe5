/** Record a DEPOSIT: the only way money enters a merchant's balance. */
import { validationError } from '@shahn/contract/core';
import { newObjectId } from '../lib/ids.js';
import { centimesToDzd, dzdToCentimes, MAX_BALANCE_CENTIMES } from '../lib/money.js';
import type { LedgerEntryRecord } from '../store/store.js';
import type { Deps } from './deps.js';
import { parseDzdAmount } from './parse-dzd-amount.js';
import { auditRecord } from '../support/audit.js';

export async function creditMerchant(
  deps: Pick<Deps, 'store' | 'clock'>,
  options: { username: string; amount: number | string; note?: string; actor?: string; reason?: string },
): Promise<LedgerEntryRecord> {
  const amount = dzdToCentimes(parseDzdAmount(options.amount, 'amount'));
  const reason = options.reason?.trim();
  if (options.reason !== undefined && !reason) throw validationError('body', 'reason', 'must not be blank: say why the money is credited', options.reason, 'required');
  const merchant = await deps.store.accounts.findMerchantByUsername(options.username.trim());
  if (!merchant) throw validationError('body', 'username', 'is not a merchant', options.username, 'unknown_merchant');
  const now = deps.clock.now();
  const id = newObjectId(now);
  if (options.note !== undefined && options.note.length > 500) throw validationError('body', 'note', 'must be at most 500 characters', undefined, 'maxLength');
  const note = options.note ?? 'Deposit';
  const result = await deps.store.ledger.creditWithAudit({
    id,
    merchantId: merchant.id,
    amount,
    maxBalance: MAX_BALANCE_CENTIMES,
    note,
    time: now,
    audit: auditRecord(now, options.actor ?? 'cli', 'merchant.credit', merchant.id, reason ?? note, { amount, entryId: id }),
  });
  if (!result.ok) {
    throw validationError(
      'body',
      'amount',
      `would take the balance (${centimesToDzd(result.balance)} DZD) past the maximum of ${centimesToDzd(MAX_BALANCE_CENTIMES)} DZD`,
      options.amount,
      'balance_maximum',
    );
  }
  return result.entry;
}
