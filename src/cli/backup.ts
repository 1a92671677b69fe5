/**
 * `shahn backup --to FILE`: a checked copy of the SQLite store, taken while shahn runs on it
 * (src/store/sqlite/backup.ts). A PostgreSQL store is backed up with PostgreSQL's own tools; the
 * command says which, with the command line to run.
 */
import type { Config } from '../config.js';
import { describeStore, isPostgresUrl } from '../runtime/open-store.js';
import { BackupError, backupSqliteStore, type SqliteBackupResult } from '../store/sqlite/backup.js';

export interface BackupOptions {
  to: string;
  force?: boolean;
  json?: boolean;
}

/** A word for a POSIX shell: as it is when it is plain, else in single quotes. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The store's URL without its password (pg_dump takes it from PGPASSWORD or ~/.pgpass). */
function withoutPassword(url: string): { url: string; hadPassword: boolean } {
  try {
    const u = new URL(url);
    if (u.password === '') return { url, hadPassword: false };
    u.password = '';
    return { url: u.toString(), hadPassword: true };
  } catch {
    return { url: describeStore(url), hadPassword: true };
  }
}

function postgresAdvice(db: string, to: string): string {
  const { url, hadPassword } = withoutPassword(db);
  return (
    `shahn backup copies SQLite stores; this store is PostgreSQL (${describeStore(db)}). Back it up with pg_dump:\n` +
    `  pg_dump --format=custom --file=${shellWord(to)} ${shellWord(url)}\n` +
    (hadPassword ? '(the password goes in PGPASSWORD or ~/.pgpass, not on the command line) ' : '') +
    'and restore it with pg_restore. For point-in-time recovery, continuous archiving with pg_basebackup: see docs/postgresql.md, "Backups".'
  );
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const count = (n: number) => n.toLocaleString('en-US');
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function report(r: SqliteBackupResult, source: string): string {
  return (
    `Backed up ${source} to ${r.destination} in ${seconds(r.totalMs)} (copy ${seconds(r.copyMs)}, checks ${seconds(r.checkMs)}):\n` +
    `  ${mib(r.bytes)} (${count(r.pages)} pages of ${count(r.pageSize)} bytes), schema version ${r.schemaVersion}\n` +
    `  ${count(r.merchants)} merchant(s), ${count(r.orders)} order(s), ${count(r.ledgerEntries)} ledger entr${r.ledgerEntries === 1 ? 'y' : 'ies'}\n` +
    `  checks passed: integrity_check ok, schema version equal to the store's, ledger audit clean\n`
  );
}

/** Run the command; returns the exit code (0 copied and checked, 1 nothing copied, 3 the copy failed its checks). */
export async function backupCommand(config: Config, opts: BackupOptions): Promise<number> {
  if (isPostgresUrl(config.db)) {
    process.stderr.write(`shahn: ${postgresAdvice(config.db, opts.to)}\n`);
    return 1;
  }
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const r = await backupSqliteStore({ source: config.db, destination: opts.to, force: opts.force === true, signal: abort.signal });
    process.stdout.write(
      opts.json
        ? `${JSON.stringify({ ...r, copyMs: Math.round(r.copyMs), checkMs: Math.round(r.checkMs), totalMs: Math.round(r.totalMs) })}\n`
        : report(r, config.db),
    );
    return 0;
  } catch (err) {
    if (!(err instanceof BackupError)) throw err;
    process.stderr.write(`shahn: ${err.message}\n`);
    return err.exitCode;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
