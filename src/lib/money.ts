/**
 * Money is integer centimes everywhere inside shahn. On the wire it is DZD as a JSON number
 * with at most two decimals.
 */

export const CENTIMES_PER_DZD = 100;
/** Plan cost multipliers are stored as integer parts per million (0.9925 → 992500). */
export const PPM = 1_000_000;

export function dzdToCentimes(dzd: number): number {
  return Math.round(dzd * CENTIMES_PER_DZD);
}

export function centimesToDzd(centimes: number): number {
  return centimes / CENTIMES_PER_DZD;
}

export function costToPpm(cost: number): number {
  return Math.round(cost * PPM);
}

export function ppmToCost(ppm: number): number {
  return ppm / PPM;
}

/** The charge for a top-up: round half-up of amount × cost, to the centime, in integers only. */
export function chargeCentimes(amountCentimes: number, costPpm: number | null): number {
  if (costPpm === null) return amountCentimes;
  return Math.floor((amountCentimes * costPpm + PPM / 2) / PPM);
}

/**
 * Bounds on money that enters a balance (credits, opening balances): one credit at most
 * 100,000,000 DZD, and a credit may not take a balance past 1,000,000,000 DZD. Refunds are not
 * bounded (they return what a charge took). Both keep every balance far below 2^53 centimes, where
 * integer arithmetic in JavaScript would lose precision.
 */
export const MAX_CREDIT_CENTIMES = 100_000_000 * CENTIMES_PER_DZD;
export const MAX_BALANCE_CENTIMES = 1_000_000_000 * CENTIMES_PER_DZD;
