/**
 * Keeps one `process.nextTick` queue entry alive for the life of the process, so that every later
 * `nextTick` stays on V8's fast path.
 *
 * Why: node builds each queue entry as an object literal with computed keys
 * (`{ [async_id_symbol]: …, [trigger_async_id_symbol]: …, callback, args }`). V8 records the hidden
 * classes ("maps") such a literal goes through in the feedback of `nextTick`, and it holds them
 * weakly. When a full garbage collection runs while no queue entry is alive, those maps are collected
 * and the feedback is left pointing at nothing. The next entry gets new maps, and V8 (the runtime
 * function behind DefineKeyedOwnPropertyInLiteral, in node 20's V8) then marks the feedback
 * megamorphic for good: from then on, every `nextTick` adds the entry's properties in a runtime call
 * instead of in optimized code. node:http calls `nextTick` several times per request, so this is paid
 * on every request of a long-running server. docs/decisions.md ("One nextTick entry kept alive") has
 * the evidence and the measurements.
 *
 * One entry kept alive keeps its map, and through the map's back pointers every map before it, so the
 * feedback never loses them. The entry is caught by an async hook's `init` that is enabled only for
 * the one `nextTick` call made here and disabled at once: no hook stays on. (Not by
 * `executionAsyncResource()`, which would switch node, for good, to passing every native callback
 * through a JavaScript trampoline.)
 * Call it first thing in a process, before loading the rest of the program (bin/shahn.js does).
 */
import { createHook } from 'node:async_hooks';

/** The entry kept: held here for the life of the process (the module is never unloaded). */
const kept: object[] = [];

export function keepNextTickShape(): void {
  // The hook's init runs inside the nextTick call below, so an entry is kept once this has run.
  if (kept.length > 0) return;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject') kept.push(resource);
    },
  });
  hook.enable();
  try {
    process.nextTick(() => undefined);
  } finally {
    hook.disable();
  }
}
