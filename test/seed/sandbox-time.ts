/**
 * Runs the seed's polling client on the merchant's sandbox clock. The client waits 5 s between checks
 * with `setTimeout(resolve, 5000)`; while `run` goes on, each such wait advances the sandbox clock by
 * 5 s (through the API, as an integrator's test suite would) and returns at once. The client so sees
 * the contract's timeline step by step, as it would in real time, without the real waiting. Every
 * other timer is the real one. The seed's own file stays as the public docs give it.
 */
const SEED_POLL_MS = 5000;

export interface SandboxTimeRun<T> {
  /** What `run` returned, or the error it threw. */
  outcome: { ok: true; value: T } | { ok: false; error: Error };
  /** How many of the client's 5 s waits were turned into clock moves. */
  waits: number;
}

export async function onSandboxTime<T>(advance: (seconds: number) => Promise<unknown>, run: () => Promise<T>): Promise<SandboxTimeRun<T>> {
  const realSetTimeout = globalThis.setTimeout;
  let waits = 0;
  let failed: (err: unknown) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => (failed = reject));
  failure.catch(() => undefined); // raced below; an advance failing after the race is over has no one to tell
  const patched = (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    if (ms !== SEED_POLL_MS) return realSetTimeout(callback, ms, ...args);
    waits++;
    advance(ms / 1000).then(() => callback(...args), failed);
    return realSetTimeout(() => undefined, 0);
  };
  globalThis.setTimeout = patched as unknown as typeof setTimeout;
  try {
    const value = await Promise.race([run(), failure]);
    return { outcome: { ok: true, value }, waits };
  } catch (error) {
    return { outcome: { ok: false, error: error as Error }, waits };
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
}
