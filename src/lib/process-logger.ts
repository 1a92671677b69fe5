/**
 * The logger of a `shahn serve` or `shahn worker` process: pino, one JSON line per entry on stdout.
 *
 * Lines are encoded into a buffer as they are logged and written together, with one asynchronous write
 * at a time: a write starts at the end of the event-loop turn in which HIGH_WATER bytes are gathered,
 * or FLUSH_MS after the oldest line still waiting, or, for lines logged while a write was in flight,
 * FLUSH_MS after that write ends (two buffers take turns; a short write sends the rest). So a line
 * reaches the log about FLUSH_MS after it was logged (more when it waited for a slow write), and a
 * busy server's access lines go out in a few dozen writes a second rather than one per event-loop
 * turn. Each write is a hand-off to libuv's threadpool, whose thread wakes beside the event loop (on a
 * server pinned to one core it takes that core from the requests): under a steady check-id load,
 * writing every turn comes to a write every 30 requests and 0.08 context switches per request, and
 * waiting to a write every 200 and 0.025 (the server's /proc counters).
 * Nothing is joined or encoded twice. pino's default stream (sonic-boom) measured and re-encoded the
 * pending text several times per write; an access line cost about twice as much through it. Gathering
 * the lines as strings and joining and encoding them per write cost, measured alone, about twice what
 * encoding each line as it is logged does. The writes stay asynchronous: a synchronous write blocks the
 * event loop whenever the kernel holds writers back (dirty page write-back of a busy log file), which
 * the benchmark showed as a 19 ms p99 on check-id.
 * The order of the lines is kept. At exit (process.exit after a signal, an uncaught error, the event
 * loop running out of work: the wait never holds the process) what is gathered is written
 * synchronously, after the bytes a full pipe refused, if any. A write the threadpool is doing at
 * that moment is not waited for: behind a full pipe its bytes may be cut short.
 * A full non-blocking pipe (EAGAIN) is tried again shortly; any other write error drops that write's
 * lines and is reported once on stderr: a broken log destination does not stop the service.
 */
import { write, writeSync } from 'node:fs';
import pino, { type Logger } from 'pino';

export interface BatchedStream {
  write(line: string): boolean;
  /** Write the gathered lines now and call back once nothing is left to write (lines logged meanwhile included). */
  flush(cb?: (err?: Error | null) => void): void;
}

/** How long to wait before writing again to a full non-blocking pipe. */
const RETRY_FULL_MS = 10;
/** A cell to wait on (Atomics.wait) while a full pipe drains at exit. */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));
/** The size of the two buffers lines are encoded into. */
const CHUNK = 256 * 1024;
/** Gathered bytes that start a write at once: half a buffer, so that the lines logged while it is in flight fit in the other. */
const HIGH_WATER = CHUNK / 2;
/** The longest a line waits for others before it is written. */
export const FLUSH_MS = 20;

/** A pino destination that writes the lines gathered over up to FLUSH_MS at once to `fd` (stdout by default). */
export function batchedDestination(fd = 1): BatchedStream {
  // Lines are encoded into `fill` as they are logged; a write takes what is there and `fill` becomes
  // the other buffer (`spare`), which a write gives back once it is done with it.
  let fill: Buffer = Buffer.allocUnsafe(CHUNK);
  let used = 0;
  let spare: Buffer | undefined = Buffer.allocUnsafe(CHUNK);
  let writing = false;
  /** The wait for more lines (FLUSH_MS), armed while lines are gathered and no write is in flight; never holds the process. */
  let timer: NodeJS.Timeout | undefined;
  let armed = false;
  /** A write of HIGH_WATER bytes waits for the end of the turn, so that a process.exit later in the turn still finds every line of it gathered. */
  let full = false;
  /** Bytes a full non-blocking pipe refused, waiting RETRY_FULL_MS to be tried again (written first at exit). */
  let parked: Buffer | undefined;
  let reported = false;
  let waiting: Array<(err?: Error | null) => void> = [];
  /** Room for `bytes` more in `fill`, keeping what it holds. */
  const grow = (bytes: number) => {
    const bigger = Buffer.allocUnsafe(Math.max(fill.length * 2, used + bytes));
    fill.copy(bigger, 0, 0, used);
    fill = bigger;
  };
  /** What is gathered, as bytes of the buffer returned with them; `fill` starts over on the other buffer. */
  const take = (): [Buffer, Buffer] => {
    const owner = fill;
    const bytes = fill.subarray(0, used);
    fill = spare ?? Buffer.allocUnsafe(CHUNK);
    spare = undefined;
    used = 0;
    return [bytes, owner];
  };
  /** A write is done with `owner`: it is the next spare buffer (an outgrown one is let go). */
  const release = (owner: Buffer) => {
    if (owner.length === CHUNK) spare = owner;
  };
  const send = (bytes: Buffer, owner: Buffer) => {
    writing = true;
    write(fd, bytes, 0, bytes.length, null, (err, n) => {
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          parked = bytes;
          setTimeout(() => {
            parked = undefined;
            send(bytes, owner);
          }, RETRY_FULL_MS);
          return;
        }
        if (!reported) {
          reported = true;
          try {
            writeSync(2, `shahn: cannot write log lines to fd ${fd} (${err.message}); lines are dropped while it fails\n`);
          } catch {
            // stderr is gone too
          }
        }
      } else if (n < bytes.length) {
        send(bytes.subarray(n), owner);
        return;
      }
      release(owner);
      writing = false;
      // What was logged meanwhile waits its turn like any line, unless there is enough of it or a flush is waiting.
      if (used >= HIGH_WATER || waiting.length > 0 || used === 0) next();
      else arm();
    });
  };
  /** Start the next write, or, with nothing left, answer the flushes waiting. */
  const next = () => {
    if (writing) return;
    if (used > 0) {
      armed = false;
      send(...take());
      return;
    }
    const done = waiting;
    waiting = [];
    for (const cb of done) cb(null);
  };
  const handOver = () => {
    if (!armed) return; // a write took the lines meanwhile
    armed = false;
    next();
  };
  const writeFull = () => {
    full = false;
    next();
  };
  const arm = () => {
    if (armed) return;
    armed = true;
    if (timer === undefined) timer = setTimeout(handOver, FLUSH_MS).unref();
    else timer.refresh();
  };
  const stream: BatchedStream = {
    write(line) {
      // A UTF-16 code unit takes at most 3 bytes of UTF-8.
      if (used + line.length * 3 > fill.length) grow(line.length * 3);
      used += fill.write(line, used, 'utf8');
      if (used >= HIGH_WATER) {
        if (!full) {
          full = true;
          setImmediate(writeFull);
        }
      } else if (!writing) arm();
      return true;
    },
    flush(cb) {
      if (cb) waiting.push(cb);
      next();
    },
  };
  /** At exit (no timer or callback runs after it): what a full pipe refused, then what is gathered, in the order they were logged. */
  const writeAllSync = () => {
    const pending = [parked, used > 0 ? take()[0] : undefined];
    let waits = 0;
    for (let rest of pending) {
      while (rest !== undefined && rest.length > 0) {
        try {
          rest = rest.subarray(writeSync(fd, rest));
        } catch (err) {
          // A full non-blocking pipe: wait for its reader a little (at most about a second in all).
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && ++waits <= 100) {
            Atomics.wait(PAUSE, 0, 0, RETRY_FULL_MS);
            continue;
          }
          return; // stdout is gone (a closed pipe): nothing more can be written
        }
      }
    }
  };
  process.on('exit', writeAllSync);
  return stream;
}

export function processLogger(level: string): Logger {
  return pino({ level }, batchedDestination());
}
