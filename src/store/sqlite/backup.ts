/**
 * An online copy of a SQLite store (`shahn backup`), taken while `shahn serve` keeps writing to it.
 *
 * The source is opened read-only on a connection of this process, and SQLite's backup API copies its
 * pages into a new file beside the destination. The copy is taken in ONE backup step: a step reads
 * inside one read transaction, so the copy is the store as it was at one commit. The backup API can
 * also copy a few pages per step, but it lets go of the source between steps, and a commit by another
 * connection (the server commits every few milliseconds under load) restarts the copy from the first
 * page, so an incremental copy of a busy store restarts over and over and may never finish. In WAL
 * mode a reader does not block writers: the server goes on committing while the step reads, and the
 * WAL grows until the step ends (checkpoints cannot pass an open reader).
 *
 * The new file is checked before it is renamed into place: PRAGMA integrity_check, the schema
 * version against the source's, and the ledger audit (store.ledger.checkMoney) on the copy opened
 * as a store. A copy that fails a check is deleted and the destination is left as it was.
 */
import { closeSync, existsSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { LATEST_SCHEMA_VERSION } from '../migrations.js';
import { openSqliteStore } from './open-sqlite-store.js';

/** What went wrong, and the exit code that says it: 1 nothing was copied, 3 a copy was made and failed its checks. */
export class BackupError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 3 = 1,
  ) {
    super(message);
  }
}

export interface SqliteBackupOptions {
  /** The live store's file. */
  source: string;
  /** The backup file to write. */
  destination: string;
  /** Replace the destination if it exists (otherwise an existing file is refused). */
  force?: boolean;
  /** Abort between phases (Ctrl-C, SIGTERM): the temporary file is removed, nothing is put in place. */
  signal?: AbortSignal;
}

export interface SqliteBackupResult {
  source: string;
  destination: string;
  bytes: number;
  pages: number;
  pageSize: number;
  schemaVersion: number;
  merchants: number;
  orders: number;
  ledgerEntries: number;
  /** Time spent copying pages, checking the copy, and in all (ms). */
  copyMs: number;
  checkMs: number;
  totalMs: number;
}

/** Pages per backup step: all of them (the progress callback's largest accepted value). */
const ALL_PAGES = 0x7fffffff;

/** The name of the user with this uid, from /etc/passwd, or the number. */
function userName(uid: number): string {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[2] === String(uid));
    if (line) return line.split(':')[0]!;
  } catch {
    /* no passwd file */
  }
  return `uid ${uid}`;
}

/** The files SQLite keeps beside a database. */
const sidecars = (path: string) => [`${path}-wal`, `${path}-shm`, `${path}-journal`];

function removeWithSidecars(path: string): void {
  for (const p of [path, ...sidecars(path)]) rmSync(p, { force: true });
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The source must be a shahn store this user may read without leaving files the server cannot open. */
function checkSource(source: string, given: string): void {
  let st;
  try {
    st = statSync(source);
  } catch {
    const where = source === given ? `"${given}"` : `"${given}" (${source})`;
    throw new BackupError(`There is no SQLite store at ${where}: the file does not exist. Give the store's path with --db or SHAHN_DB.`);
  }
  if (st.isDirectory()) throw new BackupError(`The store path "${given}" is a folder, not a file. Give the store's file with --db or SHAHN_DB, such as ${given.replace(/\/+$/, '')}/shahn.db.`);
  const uid = process.getuid?.();
  if (uid !== undefined && uid !== st.uid) {
    // A reader creates the store's -wal and -shm files when they are missing (the server stopped);
    // created by another user, they would keep the server from opening its own store.
    const owner = userName(st.uid);
    throw new BackupError(
      `The store "${given}" belongs to ${owner}, and this command runs as ${userName(uid)}: reading it could leave files beside it that ${owner} cannot open. ` +
        `Run the backup as ${owner} (for example: sudo -u ${owner} shahn backup …).`,
    );
  }
}

function checkDestination(destination: string, given: string, source: string, force: boolean): void {
  const dir = dirname(destination);
  if (!existsSync(dir)) throw new BackupError(`The folder of "${given}" (${dir}) does not exist. Create it first (owned by the user that runs shahn, mode 0700).`);
  const sameFile = (a: string, b: string) => {
    try {
      const [x, y] = [statSync(a), statSync(b)];
      return x.dev === y.dev && x.ino === y.ino;
    } catch {
      return false;
    }
  };
  const sourceNames = [source, ...sidecars(source)];
  if (sourceNames.includes(destination) || sourceNames.some((s) => sameFile(s, destination))) {
    throw new BackupError(`"${given}" is the store itself (or one of its -wal, -shm files): give the backup another file name.`);
  }
  if (!existsSync(destination)) return;
  if (statSync(destination).isDirectory()) {
    throw new BackupError(`"${given}" is a folder. Give a file path inside it, such as ${given.replace(/\/+$/, '')}/shahn-${new Date().toISOString().slice(0, 10)}.db.`);
  }
  if (!force) throw new BackupError(`"${given}" already exists. Give another file name, or --force to replace it.`);
}

/** Open the source read-only; a file that is not a shahn store is said so. */
function openSource(source: string, given: string): { db: Db; version: number } {
  let db: Db | undefined;
  try {
    db = new Database(source, { readonly: true, fileMustExist: true, timeout: 5000 });
    const hasMigrations = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
    if (!hasMigrations) throw new BackupError(`"${given}" is a SQLite database but not a shahn store (it has no schema_migrations table).`);
    const version = (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
    if (version > LATEST_SCHEMA_VERSION) {
      throw new BackupError(`The store's schema is version ${version}, newer than this shahn (${LATEST_SCHEMA_VERSION}): back it up with the shahn that serves it.`);
    }
    return { db, version };
  } catch (err) {
    db?.close();
    if (err instanceof BackupError) throw err;
    const code = (err as { code?: string }).code;
    const why =
      code === 'SQLITE_NOTADB' ? 'the file is not a SQLite database'
      : code === 'SQLITE_CORRUPT' ? 'the database file is damaged'
      : code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' ? 'this user may not read it, or may not create its -wal and -shm files in its folder'
      : (err as Error).message;
    throw new BackupError(`Cannot read the SQLite store at "${given}": ${why}.`);
  }
}

/** The checks on the copy; throws BackupError (exit code 3) naming what failed. */
async function verifyCopy(temp: string, sourceVersion: number): Promise<Pick<SqliteBackupResult, 'pages' | 'pageSize' | 'schemaVersion' | 'merchants' | 'orders' | 'ledgerEntries'>> {
  const failed = (what: string, advice: string) => new BackupError(`${what}; nothing was put in place. ${advice}`, 3);
  const db = new Database(temp, { fileMustExist: true });
  let facts;
  try {
    const problems = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check);
    if (problems.length !== 1 || problems[0] !== 'ok') {
      throw failed(
        `The copy failed PRAGMA integrity_check (${problems.slice(0, 5).join('; ').replace(/\s*\n\s*/g, ' ')})`,
        `The store's file may be damaged: check it with sqlite3 <store> 'PRAGMA integrity_check'.`,
      );
    }
    const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    facts = {
      pages: db.pragma('page_count', { simple: true }) as number,
      pageSize: db.pragma('page_size', { simple: true }) as number,
      schemaVersion: (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v,
      merchants: count('merchants'),
      orders: count('orders'),
      ledgerEntries: count('ledger_entries'),
    };
  } finally {
    db.close();
  }
  if (facts.schemaVersion !== sourceVersion) {
    throw failed(`The copy's schema version is ${facts.schemaVersion} and the store's ${sourceVersion} (a migration ran during the copy?)`, 'Run the backup again.');
  }
  // The ledger audit, as the store runs it: balances equal the sum of their entries, one charge per
  // production order, a refund exactly for each refunded one, no money moved by the sandbox.
  const store = openSqliteStore(temp, { orderCacheSize: 0 });
  try {
    const violations = await store.ledger.checkMoney();
    if (violations.length > 0) {
      const shown = violations.slice(0, 5).map((v) => (v.orderId ? `order ${v.orderId}: ` : v.merchantId ? `merchant ${v.merchantId}: ` : '') + v.problem);
      throw failed(
        `The copy fails the ledger audit, ${violations.length} violation(s): ${shown.join('; ')}${violations.length > 5 ? '; …' : ''}`,
        'The copy is exact, so the store itself breaks the money rules: look at these orders and merchants before anything else.',
      );
    }
  } finally {
    await store.close();
  }
  return facts;
}

export async function backupSqliteStore(options: SqliteBackupOptions): Promise<SqliteBackupResult> {
  const t0 = performance.now();
  const source = resolve(options.source);
  const destination = resolve(options.destination);
  checkSource(source, options.source);
  checkDestination(destination, options.destination, source, options.force === true);
  const interrupted = () => {
    if (options.signal?.aborted) throw new BackupError('Interrupted: nothing was put in place.');
  };

  // The temporary file: hidden, in the destination's folder (so the rename is atomic), readable by
  // this user only (a store holds key hashes, password hashes and customers' numbers).
  const temp = join(dirname(destination), `.${basename(destination)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const { db: src, version: sourceVersion } = openSource(source, options.source);
  let placed = false;
  try {
    try {
      closeSync(openSync(temp, 'wx', 0o600));
    } catch (err) {
      throw new BackupError(`Cannot write in the folder of "${options.destination}": ${(err as Error).message}.`);
    }
    const tCopy = performance.now();
    try {
      await src.backup(temp, {
        progress: () => {
          interrupted();
          return ALL_PAGES;
        },
      });
    } catch (err) {
      if (err instanceof BackupError) throw err;
      throw new BackupError(`The copy could not be written: ${(err as Error).message}.`);
    } finally {
      src.close();
    }
    const copyMs = performance.now() - tCopy;
    fsyncPath(temp);
    interrupted();

    const tCheck = performance.now();
    const facts = await verifyCopy(temp, sourceVersion);
    for (const p of sidecars(temp)) rmSync(p, { force: true });
    const checkMs = performance.now() - tCheck;
    interrupted();

    if (options.force === true) {
      renameSync(temp, destination);
      placed = true;
    } else {
      // A hard link never replaces a file: a destination created meanwhile is still refused.
      try {
        linkSync(temp, destination);
        placed = true;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'EEXIST') throw new BackupError(`"${options.destination}" already exists. Give another file name, or --force to replace it.`);
        if (existsSync(destination)) throw err;
        renameSync(temp, destination); // a file system without hard links
        placed = true;
      }
      rmSync(temp, { force: true });
    }
    fsyncPath(dirname(destination));
    return {
      source,
      destination,
      bytes: statSync(destination).size,
      ...facts,
      copyMs,
      checkMs,
      totalMs: performance.now() - t0,
    };
  } finally {
    if (src.open) src.close();
    if (!placed) removeWithSidecars(temp);
  }
}
