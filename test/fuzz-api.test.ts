/**
 * Fuzz, the API surface: random bodies, content types, encodings, queries, paths, headers and keys
 * thrown at every endpoint through inject(), with a model of the money that must agree with the store
 * afterwards (test/fuzz-harness.ts). On SQLite and PostgreSQL.
 */
import { fuzzSuite } from './fuzz-harness.js';

fuzzSuite('api');
