/** The sandbox timeline of contract §5: PENDING for the first 5 s, HANDLING until 15 s, then the final state. */
export const SANDBOX_PENDING_MS = 5_000;
export const SANDBOX_HANDLING_UNTIL_MS = 15_000;
