/** The PostgreSQL server of the test suite and the names of this run's databases (see pg-global-setup.ts). */
export const TEST_PG_URL = process.env.SHAHN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function pgUrlFor(database: string): string {
  const u = new URL(TEST_PG_URL);
  u.pathname = `/${database}`;
  return u.toString();
}
