/** SIGTERM and SIGINT for the long-running commands (serve, worker, merchant-sync). */
import type { Log } from '../lib/log.js';

/** Exit cleanly on SIGTERM/SIGINT; exit anyway after the grace period. */
export interface Stoppable {
  app: { log: Pick<Log, 'info' | 'error'> };
  stop(): Promise<void>;
}

export function handleSignals(server: Stoppable, graceMs: number): void {
  const onSignal = (signal: NodeJS.Signals) => {
    server.app.log.info({ signal }, 'shutting down: draining in-flight requests');
    const timer = setTimeout(() => {
      server.app.log.error({ graceMs }, 'shutdown grace period over; exiting with requests still open');
      process.exit(1);
    }, graceMs);
    timer.unref();
    server.stop().then(
      () => {
        server.app.log.info({}, 'shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        server.app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
