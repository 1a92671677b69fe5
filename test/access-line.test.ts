/**
 * The hot path's access line (src/lib/access-line.ts) is byte for byte what pino writes for the same
 * entry, for awkward values too; a logger with features the short way does not know gets pino itself;
 * the level is honoured.
 * Stores: SQLite only: nothing here touches a store (one run is enough).
 */
import pino, { type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { accessLineWriter } from '../src/lib/access-line.js';

/** A logger whose lines land in an array, each as pino writes it (a stream pino takes: write only). */
function capture(options: pino.LoggerOptions = {}): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino(options, { write: (s: string) => void lines.push(s) });
  return { logger, lines };
}

const CASES: Array<[string, string, string, number, number, string]> = [
  ['req_1764790000_0123456789ab', 'GET', '/v3/mobile/check-id/6a1f9a2b-2b3c-4d5e-8f90-1234567890ab', 200, 0.12, '127.0.0.1'],
  ['req_1764790000_0123456789ab', 'GET', '/v3/mobile/check-id/x', 404, 3, '::ffff:10.0.0.7'],
  ['r"q\\', 'GET', '/a"b\\c\n\t\u0001é€😀\ud800', 503, 12.5, '"; DROP'],
  ['r', 'GET', '/'.repeat(300), 200, 0, 'x'.repeat(100)],
];

describe('the access line', () => {
  it('is what logger.info writes, byte for byte, on a plain logger and on a child with bindings', () => {
    for (const make of [() => capture(), () => capture({ base: { pid: 7, hostname: 'h"1' } })]) {
      for (const child of [false, true]) {
        const a = make();
        const b = make();
        const la = child ? a.logger.child({ worker: 'w-1' }) : a.logger;
        const lb = child ? b.logger.child({ worker: 'w-1' }) : b.logger;
        const write = accessLineWriter(la);
        for (const [requestId, method, url, status, ms, ip] of CASES) {
          // The time comes from the logger's clock: compare with the time field taken out.
          write(requestId, method, url, status, ms, ip);
          lb.info({ requestId, method, url, status, ms, ip }, 'request completed');
        }
        const noTime = (l: string) => l.replace(/,"time":\d+/, '');
        expect(a.lines.length).toBe(CASES.length);
        expect(a.lines.map(noTime)).toEqual(b.lines.map(noTime));
        for (const l of a.lines) expect(JSON.parse(l)).toMatchObject({ level: 30, msg: 'request completed', time: expect.any(Number) });
      }
    }
  });

  it('is pino itself for a logger with a mixin, formatters, redaction or hooks', () => {
    const variants: pino.LoggerOptions[] = [
      { mixin: () => ({ extra: 1 }) },
      { formatters: { log: (o) => ({ ...o, wrapped: true }) } },
      { redact: ['ip'] },
      { hooks: { logMethod(args, method) { method.apply(this, args); } } },
      { messageKey: 'message' },
      { serializers: { url: () => 'hidden' } },
    ];
    for (const options of variants) {
      const a = capture(options);
      const b = capture(options);
      accessLineWriter(a.logger)('r', 'GET', '/u', 200, 1, '1.2.3.4');
      b.logger.info({ requestId: 'r', method: 'GET', url: '/u', status: 200, ms: 1, ip: '1.2.3.4' }, 'request completed');
      expect(a.lines.map((l) => l.replace(/,"time":\d+/, ''))).toEqual(b.lines.map((l) => l.replace(/,"time":\d+/, '')));
    }
  });

  it('writes nothing when info is off, and follows a level changed later', () => {
    const { logger, lines } = capture({ level: 'warn' });
    const write = accessLineWriter(logger);
    write('r', 'GET', '/u', 200, 1, '1.2.3.4');
    expect(lines).toEqual([]);
    logger.level = 'info';
    write('r', 'GET', '/u', 200, 1, '1.2.3.4');
    expect(lines).toHaveLength(1);
  });
});
