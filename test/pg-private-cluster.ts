/**
 * A private PostgreSQL cluster for tests that stop and start the server (the shared one on 5432
 * must stay up for the other suites). Made with Debian's initdb/pg_ctl as the postgres user.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function binDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).sort() : [];
  const v = versions[versions.length - 1];
  if (!v) throw new Error('PostgreSQL server binaries are not installed (/usr/lib/postgresql)');
  return join(base, v, 'bin');
}

function uidOf(user: string): { uid: number; gid: number } {
  const out = execFileSync('id', [user]).toString();
  return { uid: Number(/uid=(\d+)/.exec(out)?.[1]), gid: Number(/gid=(\d+)/.exec(out)?.[1]) };
}

export class PrivateCluster {
  readonly dir: string;
  readonly url: string;
  private readonly bin = binDir();

  constructor(readonly port: number) {
    this.dir = mkdtempSync(join(tmpdir(), 'shahn-pg-'));
    const { uid, gid } = uidOf('postgres');
    chownSync(this.dir, uid, gid);
    this.as(['initdb', '-D', join(this.dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  private as(cmd: string[]): void {
    const [exe, ...args] = cmd;
    execFileSync('runuser', ['-u', 'postgres', '--', join(this.bin, exe!), ...args], { stdio: 'ignore', timeout: 60_000 });
  }

  start(): void {
    this.as(['pg_ctl', '-D', join(this.dir, 'data'), '-l', join(this.dir, 'log'), '-w', '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  }

  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    this.as(['pg_ctl', '-D', join(this.dir, 'data'), '-m', mode, '-w', 'stop']);
  }
}
