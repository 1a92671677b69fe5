/**
 * A merchant's sandbox clock (the contract's section 6): the time its sandbox orders live on, real
 * time plus an offset the merchant moves forward with a SANDBOX key (`POST /v3/sandbox/clock/advance`)
 * or takes back to real time (`/reset`). A sandbox order is created at the merchant's sandbox time and
 * every reading of it (check-id, check-ref, list, the console, its webhook events) takes its age on
 * that clock, so a test suite moves an order through its whole timeline without waiting. Production
 * and other merchants are untouched. The offset is in the store (sandbox_clocks): shared by every API
 * process and kept across restarts.
 *
 * Decisions: an advance is 1 s to 30 days; the offset never goes back (at most 366 days ahead); a reset
 * returns the clock to real time, and orders created while it was ahead then look as young as real
 * time says (PENDING until real time reaches their creation).
 */
import { AppError } from '@shahn/contract/core';
import type { SandboxClockOut } from '@shahn/contract';
import type { Env, KeyRecord } from '../store/store.js';
import type { Deps } from './deps.js';

/** How far ahead of real time the clock may be, in all (an advance's own bound is the schema's). */
export const MAX_OFFSET_MS = 366 * 86_400_000;

/** The time a merchant's orders of `env` are read at: real time, plus the sandbox offset for SANDBOX. */
export async function readingTime(deps: Pick<Deps, 'store' | 'clock'>, merchantId: string, env: Env): Promise<number> {
  const now = deps.clock.now();
  return env === 'SANDBOX' ? now + (await deps.store.sandboxClocks.offset(merchantId)) : now;
}

function sandboxKeyOnly(key: KeyRecord): void {
  if (key.type !== 'SANDBOX') throw new AppError('SANDBOX_ONLY');
}

function present(realNow: number, offsetMs: number): SandboxClockOut {
  return { now: new Date(realNow + offsetMs).toISOString(), offsetSeconds: Math.floor(offsetMs / 1000) };
}

export async function getSandboxClock(deps: Pick<Deps, 'store' | 'clock'>, key: KeyRecord): Promise<SandboxClockOut> {
  sandboxKeyOnly(key);
  return present(deps.clock.now(), await deps.store.sandboxClocks.offset(key.merchantId));
}

export async function advanceSandboxClock(deps: Pick<Deps, 'store' | 'clock'>, key: KeyRecord, seconds: number): Promise<SandboxClockOut> {
  sandboxKeyOnly(key);
  const now = deps.clock.now();
  const offset = await deps.store.sandboxClocks.advance(key.merchantId, seconds * 1000, MAX_OFFSET_MS, now);
  if (offset === undefined) {
    throw new AppError('ERR_VALIDATION', `The sandbox clock may be at most ${MAX_OFFSET_MS / 86_400_000} days ahead of real time; reset it first`, {
      field: 'seconds',
      reason: 'maximum',
    });
  }
  return present(now, offset);
}

export async function resetSandboxClock(deps: Pick<Deps, 'store' | 'clock'>, key: KeyRecord): Promise<SandboxClockOut> {
  sandboxKeyOnly(key);
  await deps.store.sandboxClocks.reset(key.merchantId);
  return present(deps.clock.now(), 0);
}
