import { createHash, randomBytes, randomFillSync, randomUUID } from 'node:crypto';

const PROCESS_RANDOM = randomBytes(5).toString('hex');
let counter = randomBytes(3).readUIntBE(0, 3);

/** 24 lowercase hex characters, ObjectId-like: 4 bytes of seconds, 5 random bytes per process, a 3-byte counter. */
export function newObjectId(nowMs: number): string {
  counter = (counter + 1) & 0xffffff;
  const seconds = Math.floor(nowMs / 1000) >>> 0;
  return seconds.toString(16).padStart(8, '0') + PROCESS_RANDOM + counter.toString(16).padStart(6, '0');
}

/** Random bytes for request ids, drawn 6 at a time and refilled when used up. */
const ID_POOL = Buffer.allocUnsafe(4096);
let idPoolAt = ID_POOL.length;
const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
let idSecond = -1;
let idPrefix = '';

/**
 * `req_<unix-seconds>_<random>`, as in the contract: 12 hex digits (48 bits from the CSPRNG). Every
 * request gets one, so the bytes come from a pool and each is written through a table: about 0.1 µs,
 * where formatting a random UUID and cutting it down to the same 48 bits takes 0.4-0.5 µs.
 */
export function newRequestId(): string {
  if (idPoolAt + 6 > ID_POOL.length) {
    randomFillSync(ID_POOL);
    idPoolAt = 0;
  }
  const second = Math.floor(Date.now() / 1000);
  if (second !== idSecond) {
    idSecond = second;
    idPrefix = `req_${second}_`;
  }
  const b = ID_POOL;
  const i = idPoolAt;
  idPoolAt += 6;
  return idPrefix + HEX_BYTE[b[i]!]! + HEX_BYTE[b[i + 1]!]! + HEX_BYTE[b[i + 2]!]! + HEX_BYTE[b[i + 3]!]! + HEX_BYTE[b[i + 4]!]! + HEX_BYTE[b[i + 5]!]!;
}

let lastMs = 0;
let lastIso = '';
/** The current time as ISO 8601, formatted at most once per millisecond. */
export function nowIso(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** API keys look like the public ones: a UUID. */
export function newApiKey(): string {
  return randomUUID();
}

/** Keys are high-entropy random values, so an unsalted SHA-256 is enough to store them safely. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}
