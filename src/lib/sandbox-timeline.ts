/**
 * The sandbox timeline of the contract's sandbox: PENDING for the first 5 s, HANDLING until 15 s, then the final
 * state; an UNKNOWN_ERROR (0600000003) resolves to REFUNDED after 12 h. Configurable so that test
 * suites need not wait through it (SHAHN_SANDBOX_PENDING_MS, SHAHN_SANDBOX_FINAL_MS,
 * SHAHN_SANDBOX_UNKNOWN_RESOLVE_MS); the contract's values are the defaults.
 */
export interface SandboxTimeline {
  /** An order is PENDING until this age (ms). */
  readonly pendingMs: number;
  /** HANDLING until this age, then final (ms). */
  readonly finalMs: number;
  /** An UNKNOWN_ERROR order resolves to REFUNDED at this age (ms). */
  readonly unknownResolveMs: number;
}

export const CONTRACT_TIMELINE: SandboxTimeline = Object.freeze({ pendingMs: 5_000, finalMs: 15_000, unknownResolveMs: 12 * 60 * 60 * 1000 });
