import { validationError } from '@shahn/contract';

/** A DZD amount from a person (CLI, admin): a positive number with at most two decimals. */
export function parseDzdAmount(input: number | string, field: string, allowZero = false): number {
  const text = String(input).trim();
  if (!/^\d{1,10}(\.\d{1,2})?$/.test(text)) {
    throw validationError('body', field, 'must be a number of DZD with at most two decimals', input, 'format');
  }
  const value = Number(text);
  if (value === 0 && !allowZero) throw validationError('body', field, 'must be greater than 0', input, 'minimum');
  return value;
}
