/**
 * Fuzz, the raw HTTP surface: malformed request lines and headers, raw bytes, pipelining, slow
 * requests kept open, spoofed forwarding headers, parallel garbage, over a real socket
 * (test/fuzz-harness.ts). On SQLite and PostgreSQL.
 */
import { fuzzSuite } from './fuzz-harness.js';

fuzzSuite('raw');
