import { validationError } from '@shahn/contract/core';
import { CENTIMES_PER_DZD, MAX_CREDIT_CENTIMES } from '../lib/money.js';

/** The largest single credit or opening balance, DZD. */
export const MAX_CREDIT_DZD = MAX_CREDIT_CENTIMES / CENTIMES_PER_DZD;

/** A DZD amount of money entering a balance, from a person (CLI, admin, console): positive, at most two decimals, at most MAX_CREDIT_DZD. */
export function parseDzdAmount(input: number | string, field: string, allowZero = false): number {
  const text = String(input).trim();
  if (!/^\d{1,10}(\.\d{1,2})?$/.test(text)) {
    throw validationError('body', field, 'must be a number of DZD with at most two decimals', input, 'format');
  }
  const value = Number(text);
  if (value === 0 && !allowZero) throw validationError('body', field, 'must be greater than 0', input, 'minimum');
  if (value > MAX_CREDIT_DZD) throw validationError('body', field, `must be at most ${MAX_CREDIT_DZD} DZD`, input, 'maximum');
  return value;
}
