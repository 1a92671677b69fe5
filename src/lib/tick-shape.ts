/**
 * Keeps one `process.nextTick` queue entry alive for the life of the process, so that every later
 * `nextTick` stays on V8's fast path.
 *
 * Why: node builds each queue entry as an object literal with computed keys
 * (`{ [async_id_symbol]: …, [trigger_async_id_symbol]: …, callback, args }`). V8 records the hidden
 * classes ("maps") such a literal goes through in the feedback of `nextTick`, and it holds them
 * weakly. When a full garbage collection runs while no queue entry is alive (between two turns of a
 * busy process that has just loaded a large module graph, for example), those maps are collected and
 * the feedback is left pointing at nothing. The next entry gets new maps, and V8 (the runtime function
 * behind DefineKeyedOwnPropertyInLiteral, in node 20's V8) then marks the feedback megamorphic for good:
 * from then on, every `nextTick` adds the entry's properties in the V8 runtime, a slow call, instead
 * of in optimized code. node:http calls `nextTick` several times per request (ending the request's
 * stream, after each socket write, when the response finishes), so this cost `shahn serve` 6-9 µs of
 * each check-id (34.5-36.9 µs of CPU per request against 26.3-30.6 µs with the entry kept, in
 * alternated runs of a server pinned to one core under wrk). `perf` showed
 * `Runtime_DefineKeyedOwnPropertyInLiteral` called from `nextTick` inlined in `endReadable`, `onwrite`,
 * `resume` and others; in a plain node:http server under the same load it never appeared.
 *
 * One entry kept alive keeps its map, and through the map's back pointers every map before it, so the
 * feedback never loses them. The entry is the one a `nextTick` callback runs as
 * (`executionAsyncResource()` is the queue entry itself): no async hook is enabled for it.
 * Call it first thing in a process, before loading the rest of the program (bin/shahn.js does).
 */
import { executionAsyncResource } from 'node:async_hooks';

/** The entry kept: held here for the life of the process (the module is never unloaded). */
const kept: object[] = [];
let asked = false;

export function keepNextTickShape(): void {
  if (asked) return;
  asked = true;
  process.nextTick(() => {
    kept.push(executionAsyncResource());
  });
}
