/**
 * The access line of the hot paths (check-id, send), written without pino's general machinery.
 *
 * `logger.info({ requestId, method, url, status, ms, ip }, 'request completed')` walks the object's
 * keys, looks up serializers and stringifiers for each and runs the log-method hooks: a few
 * microseconds, a tenth of what the hot path costs. For a logger with none of those features in use
 * (the logger `shahn serve` makes), the same line is put together here from the logger's own parts
 * (its level prefix, time function, bindings and line end) and written to its stream, byte for byte
 * what pino writes (test/access-line.test.ts compares them). For any other logger (a mixin, formatters,
 * hooks, redaction, serializers or a multistream) it is `logger.info` as is.
 */
import pino, { type Logger } from 'pino';

export type AccessLine = (requestId: string, method: string, url: string, status: number, ms: number, ip: string) => void;

const S = pino.symbols as typeof pino.symbols & { readonly msgPrefixSym: symbol };
const FIELDS = ['requestId', 'method', 'url', 'status', 'ms', 'ip', 'msg'];
const INFO = 30;

/**
 * A string as a JSON string literal: quoted as it is when nothing in it needs escaping (printable
 * ASCII without quote or backslash: the request ids, methods, paths and addresses of nearly every
 * request), else by JSON.stringify.
 */
function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(s);
  }
  return `"${s}"`;
}

export function accessLineWriter(logger: Logger): AccessLine {
  const viaPino: AccessLine = (requestId, method, url, status, ms, ip) => logger.info({ requestId, method, url, status, ms, ip }, 'request completed');
  const l = logger as unknown as Record<symbol, unknown>;
  const formatters = l[S.formattersSym] as { log?: unknown } | undefined;
  const hooks = l[S.hooksSym] as { streamWrite?: unknown; logMethod?: unknown } | undefined;
  const serializers = (l[S.serializersSym] ?? {}) as Record<string, unknown>;
  const stringifiers = (l[S.stringifiersSym] ?? {}) as Record<string | symbol, unknown>;
  const lsCache = l[S.lsCacheSym] as Record<number, string> | undefined;
  const time = l[S.timeSym];
  const plain =
    !l[S.mixinSym] &&
    !formatters?.log &&
    !hooks?.streamWrite &&
    !hooks?.logMethod &&
    !l[S.nestedKeySym] &&
    !l[S.msgPrefixSym] &&
    l[S.messageKeySym] === 'msg' &&
    stringifiers[S.wildcardFirstSym as symbol] === undefined &&
    FIELDS.every((f) => serializers[f] === undefined && stringifiers[f] === undefined) &&
    typeof lsCache?.[INFO] === 'string' &&
    typeof time === 'function' &&
    typeof l[S.endSym] === 'string';
  if (!plain) return viaPino;
  const prefix = lsCache[INFO]!;
  const now = time as () => string;
  return (requestId, method, url, status, ms, ip) => {
    if (logger.levelVal > INFO) return;
    const stream = l[S.streamSym] as { write(line: string): unknown } & Record<symbol, unknown>;
    if (stream[S.needsMetadataGsym] === true) {
      viaPino(requestId, method, url, status, ms, ip);
      return;
    }
    stream.write(
      `${prefix}${now()}${l[S.chindingsSym] as string},"requestId":${jsonString(requestId)},"method":${jsonString(method)},"url":${jsonString(url)},"status":${status},"ms":${Number.isFinite(ms) ? ms : null},"ip":${jsonString(ip)},"msg":"request completed"${l[S.endSym] as string}`,
    );
  };
}
