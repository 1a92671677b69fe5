/**
 * WAL checkpoints off the event loop. Started by the first group commit of sends (a process that
 * takes sends: `serve`), a worker thread with its own connection runs
 * `PRAGMA wal_checkpoint(PASSIVE)` at most every `everyMs` while commits happen, so the copying of
 * WAL pages into the database file and its fsyncs happen beside the requests instead of inside a
 * send's commit. PASSIVE never blocks readers or writers.
 *
 * SQLite starts the WAL over (writes it again from its first frame) only when a write begins with
 * every frame already copied. Under a steady stream of sends the thread is always a few commits
 * behind, so the WAL would only grow. The thread reports the WAL's length after each checkpoint;
 * past a soft bound the writing connection holds its next group commit (the sends wait, the event
 * loop goes on) and asks the thread to checkpoint at once (`drain`): with nothing written meanwhile
 * that copies every frame, and the held commit starts the WAL over. The writing connection keeps an
 * automatic checkpoint as a hard bound in case the thread cannot keep up or is gone; that one runs on
 * the event loop. Durability is unchanged: the checkpointing connection also runs synchronous=NORMAL,
 * so the WAL is synced before its pages are copied and the database file before the WAL is reused.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** A drain answered by nobody (the thread busy elsewhere or gone) lets the held writes go after this long. */
const DRAIN_TIMEOUT_MS = 500;

// The shared cells: commits counted by the writer; the WAL's length in frames at the thread's last
// checkpoint; how many checkpoints the thread has reported.
const COMMITS = 0;
const WAL_FRAMES = 1;
const REPORTS = 2;

const WORKER_SRC = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const state = new Int32Array(workerData.state);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('synchronous = NORMAL');
db.pragma('cache_size = -1024');
/** One checkpoint; true when it copied every frame of the WAL. */
const checkpoint = () => {
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    Atomics.store(state, ${WAL_FRAMES}, r.log);
    Atomics.add(state, ${REPORTS}, 1);
    return r.busy === 0 && r.log >= 0 && r.checkpointed === r.log;
  } catch {
    // busy (another process checkpoints) or the file is going away: the next commit tries again
    return false;
  }
};
let seen = 0;
setInterval(() => {
  const now = Atomics.load(state, ${COMMITS});
  if (now === seen) return;
  seen = now;
  checkpoint();
}, workerData.everyMs);
parentPort.on('message', () => parentPort.postMessage(checkpoint()));
`;

export interface BackgroundCheckpoint {
  /** Call after each commit (costs an atomic add). */
  committed(): void;
  /** The WAL's length in frames at the thread's last checkpoint; 0 until it reports one after the last drain. */
  walFrames(): number;
  /**
   * Checkpoint now, while the caller holds its writes: resolves true when every frame was copied (the
   * next write starts the WAL over), false when not, or when the thread did not answer within
   * DRAIN_TIMEOUT_MS or is stopped.
   */
  drain(): Promise<boolean>;
  stop(): Promise<void>;
}

export function startBackgroundCheckpoint(path: string, everyMs: number): BackgroundCheckpoint {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const state = new Int32Array(new SharedArrayBuffer(3 * 4));
  const worker = new Worker(WORKER_SRC, { eval: true, workerData: { path, driver, everyMs, state: state.buffer } });
  worker.unref();
  worker.on('error', () => undefined); // the writing connection's automatic checkpoint still bounds the WAL
  let reportsAtDrain = 0;
  let answer: ((complete: boolean) => void) | undefined;
  worker.on('message', (complete: boolean) => answer?.(complete));
  return {
    committed() {
      Atomics.add(state, COMMITS, 1);
    },
    walFrames() {
      return Atomics.load(state, REPORTS) > reportsAtDrain ? Atomics.load(state, WAL_FRAMES) : 0;
    },
    drain() {
      if (answer) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => answer?.(false), DRAIN_TIMEOUT_MS);
        answer = (complete) => {
          clearTimeout(timer);
          answer = undefined;
          // The length reported by this checkpoint is the WAL before it starts over: not a reason to drain again.
          reportsAtDrain = Atomics.load(state, REPORTS);
          resolve(complete);
        };
        worker.postMessage(0);
      });
    },
    async stop() {
      answer?.(false);
      await worker.terminate();
    },
  };
}
