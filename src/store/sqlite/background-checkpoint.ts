/**
 * WAL checkpoints off the event loop. Started by the first group commit of sends (a process that
 * takes sends: `serve`), a worker thread with its own connection runs
 * `PRAGMA wal_checkpoint(PASSIVE)` at most every `everyMs` while commits happen, so the copying of
 * WAL pages into the database file and its fsyncs happen beside the requests instead of inside a
 * send's commit. PASSIVE never blocks readers or writers. The writing connection keeps an automatic
 * checkpoint as a bound on the WAL (larger than SQLite's default of 1,000 pages): it finishes what the
 * thread has not copied yet, after which SQLite starts the WAL over. Durability is unchanged: the
 * checkpointing connection also runs synchronous=NORMAL, so the WAL is synced before its pages are
 * copied and the database file before the WAL is reused.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER_SRC = `
const { workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const commits = new Int32Array(workerData.commits);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('synchronous = NORMAL');
db.pragma('cache_size = -1024');
let seen = 0;
setInterval(() => {
  const now = Atomics.load(commits, 0);
  if (now === seen) return;
  seen = now;
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // busy (another process checkpoints) or the file is going away: the next commit tries again
  }
}, workerData.everyMs);
`;

export interface BackgroundCheckpoint {
  /** Call after each commit (costs an atomic add). */
  committed(): void;
  stop(): Promise<void>;
}

export function startBackgroundCheckpoint(path: string, everyMs: number): BackgroundCheckpoint {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const commits = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(WORKER_SRC, { eval: true, workerData: { path, driver, everyMs, commits: commits.buffer } });
  worker.unref();
  worker.on('error', () => undefined); // the writing connection's automatic checkpoint still bounds the WAL
  return {
    committed() {
      Atomics.add(commits, 0, 1);
    },
    async stop() {
      await worker.terminate();
    },
  };
}
