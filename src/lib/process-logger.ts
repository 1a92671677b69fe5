/**
 * The logger of a `shahn serve` or `shahn worker` process: pino, one JSON line per entry on stdout.
 *
 * The lines of one event-loop turn are gathered in an array and written, joined, when the turn ends
 * (setImmediate), with one asynchronous write at a time: the lines gathered while a write is in flight
 * go out together when it completes. Each write is encoded once and written as bytes (a short write
 * sends the rest). pino's default stream (sonic-boom) measured and re-encoded the pending text several
 * times per write; an access line cost about twice as much through it. The writes stay asynchronous: a
 * synchronous write blocks the event loop whenever the kernel holds writers back (dirty page write-back
 * of a busy log file), which the benchmark showed as a 19 ms p99 on check-id.
 * The order of the lines is kept. At exit (process.exit after a signal, an uncaught error) what is
 * gathered is written synchronously; a write already in flight is the kernel's by then.
 * A full non-blocking pipe (EAGAIN) is tried again shortly; any other write error drops that write's
 * lines and is reported once on stderr: a broken log destination does not stop the service.
 */
import { write, writeSync } from 'node:fs';
import pino, { type Logger } from 'pino';

export interface TurnBatchedStream {
  write(line: string): boolean;
  /** Write the gathered lines and call back once nothing is left to write (lines logged meanwhile included). */
  flush(cb?: (err?: Error | null) => void): void;
  /** Write everything gathered now (used at exit). */
  flushSync(): void;
}

/** How long to wait before writing again to a full non-blocking pipe. */
const RETRY_FULL_MS = 10;
/** A cell to wait on (Atomics.wait) while a full pipe drains at exit. */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** A pino destination that writes a turn's lines at once to `fd` (stdout by default). */
export function turnBatchedDestination(fd = 1): TurnBatchedStream {
  let lines: string[] = [];
  let scheduled = false;
  let writing = false;
  let reported = false;
  let waiting: Array<(err?: Error | null) => void> = [];
  const take = (): string => {
    const text = lines.length === 1 ? lines[0]! : lines.join('');
    lines = [];
    return text;
  };
  const send = (bytes: Buffer) => {
    writing = true;
    write(fd, bytes, 0, bytes.length, null, (err, n) => {
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          setTimeout(() => send(bytes), RETRY_FULL_MS);
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
        send(bytes.subarray(n));
        return;
      }
      writing = false;
      next();
    });
  };
  /** Start the next write, or, with nothing left, answer the flushes waiting. */
  const next = () => {
    if (writing) return;
    if (lines.length > 0) {
      send(Buffer.from(take(), 'utf8'));
      return;
    }
    const done = waiting;
    waiting = [];
    for (const cb of done) cb(null);
  };
  const handOver = () => {
    scheduled = false;
    next();
  };
  const stream: TurnBatchedStream = {
    write(line) {
      lines.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(handOver);
      }
      return true;
    },
    flush(cb) {
      if (cb) waiting.push(cb);
      next();
    },
    flushSync() {
      if (lines.length === 0) return;
      let rest = Buffer.from(take(), 'utf8');
      let full = 0;
      while (rest.length > 0) {
        try {
          rest = rest.subarray(writeSync(fd, rest));
        } catch (err) {
          // A full non-blocking pipe: wait for its reader a little (at most about a second in all).
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && ++full <= 100) {
            Atomics.wait(PAUSE, 0, 0, RETRY_FULL_MS);
            continue;
          }
          return; // stdout is gone (a closed pipe): nothing more can be written
        }
      }
    },
  };
  process.on('exit', () => stream.flushSync());
  return stream;
}

export function processLogger(level: string): Logger {
  return pino({ level }, turnBatchedDestination());
}
