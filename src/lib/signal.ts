/** A signal: `notify()` calls every listener at once (the in-process order processor listens for queued orders). */
export class Signal {
  private readonly listeners = new Set<() => void>();

  notify(): void {
    for (const l of this.listeners) l();
  }

  /** Listen; returns the function that stops listening. */
  listen(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
