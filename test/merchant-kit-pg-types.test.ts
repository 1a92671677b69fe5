/**
 * Importing @shahn/merchant must not change how the merchant's own pg code parses BIGINT.
 * Stores: SQLite only: it checks the pg module's global state in a process, with no store at all (one run is enough).
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import '@shahn/merchant';

describe('@shahn/merchant and pg', () => {
  it("leaves pg's global BIGINT parser alone (the kit's pool has its own)", () => {
    expect(pg.types.getTypeParser(20)('9007199254740993')).toBe('9007199254740993');
  });
});
