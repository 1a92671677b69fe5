/**
 * A pair of connected pseudo-terminals made by `socat` (Debian's package): what one side writes, the
 * other reads, as over a serial cable. The fake modem opens one end and the modem gateway opens the
 * other as it would open /dev/ttyUSB0. Killing socat is a modem unplugged: both ends hang up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface PtyPair {
  /** The end the gateway opens (a symlink to /dev/pts/N). */
  readonly gatewayEnd: string;
  /** The end the fake modem opens. */
  readonly modemEnd: string;
  readonly process: ChildProcess;
  /** Kill socat: both ends hang up. */
  close(): Promise<void>;
}

export class SocatMissing extends Error {
  override readonly name = 'SocatMissing';
}

/** Is socat on this machine (scripts/ensure-debian-packages.sh installs it)? */
export function hasSocat(): boolean {
  return ['/usr/bin/socat', '/usr/local/bin/socat', '/bin/socat'].some((p) => existsSync(p));
}

/** Make a pty pair with its two ends linked at `gatewayEnd` and `modemEnd`; resolves once socat is moving data. */
export function openPtyPair(gatewayEnd: string, modemEnd: string, timeoutMs = 5000): Promise<PtyPair> {
  if (!hasSocat()) return Promise.reject(new SocatMissing('socat is not installed (apt-get install socat, or scripts/ensure-debian-packages.sh socat)'));
  return new Promise((resolve, reject) => {
    const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${gatewayEnd}`, `pty,raw,echo=0,link=${modemEnd}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let exited: Promise<void> | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`socat did not start within ${timeoutMs} ms: ${stderr.trim()}`));
    }, timeoutMs);
    const onExit = new Promise<void>((r) => child.once('exit', () => r()));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
      if (!/starting data transfer loop/.test(stderr)) return;
      clearTimeout(timer);
      child.stderr!.removeAllListeners('data');
      child.stderr!.resume();
      resolve({
        gatewayEnd,
        modemEnd,
        process: child,
        close: () =>
          (exited ??= (async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            await onExit;
          })()),
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`socat exited (${code}) before it was ready: ${stderr.trim()}`));
    });
  });
}
