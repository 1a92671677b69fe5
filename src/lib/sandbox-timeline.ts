/**
 * The sandbox timeline of the contract's sandbox: PENDING for the first 5 s, HANDLING until 15 s, then the final
 * state; an UNKNOWN_ERROR (0600000003) resolves to REFUNDED after 12 h; 0600000004 and 0600000005
 * are UNKNOWN_ERROR until 1 h, then FULFILLED or REFUNDED; 0600000006 stays PENDING for 10 minutes.
 * Configurable (SHAHN_SANDBOX_PENDING_MS, SHAHN_SANDBOX_FINAL_MS, SHAHN_SANDBOX_UNKNOWN_RESOLVE_MS,
 * SHAHN_SANDBOX_LATE_ANSWER_MS, SHAHN_SANDBOX_OUTAGE_MS); the contract's values are the defaults. A
 * merchant's sandbox clock (domain/sandbox-clock.ts) moves its orders through it without waiting.
 */
export interface SandboxTimeline {
  /** An order is PENDING until this age (ms). */
  readonly pendingMs: number;
  /** HANDLING until this age, then final (ms). */
  readonly finalMs: number;
  /** An UNKNOWN_ERROR order resolves to REFUNDED at this age (ms). */
  readonly unknownResolveMs: number;
  /** 0600000004 / 0600000005: UNKNOWN_ERROR from finalMs until this age, then FULFILLED / REFUNDED (ms). */
  readonly lateAnswerMs: number;
  /** 0600000006: PENDING until this age (an operator outage), then HANDLING as long as usual, then FULFILLED (ms). */
  readonly outageMs: number;
}

export const CONTRACT_TIMELINE: SandboxTimeline = Object.freeze({
  pendingMs: 5_000,
  finalMs: 15_000,
  unknownResolveMs: 12 * 60 * 60 * 1000,
  lateAnswerMs: 60 * 60 * 1000,
  outageMs: 10 * 60 * 1000,
});
