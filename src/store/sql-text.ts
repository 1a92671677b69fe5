/**
 * One SQL text for both stores. Statements are written in PostgreSQL's form, with numbered
 * placeholders (`$1`, a placeholder may repeat), the casts PostgreSQL needs to type a parameter
 * (`$2::bigint`) and row locks (`FOR UPDATE`, `FOR SHARE`, `FOR UPDATE SKIP LOCKED`). For SQLite the text is
 * rewritten once, when the statement is first prepared: the casts go (SQLite's dynamic typing needs
 * none), the row locks go (a SQLite write transaction holds the whole database), and each `$n`
 * becomes a positional `?`, with the list of which argument fills each one.
 */

export interface SqliteText {
  sql: string;
  /** For each `?` in `sql`, the index of the argument that fills it. */
  slots: number[];
}

const CAST = /::(bigint|int|integer|text|smallint)\b/g;
const ROW_LOCK = /\s+FOR (?:UPDATE|SHARE)( SKIP LOCKED)?\b/g;
const PLACEHOLDER = /\$(\d+)/g;

export function toSqlite(text: string): SqliteText {
  const slots: number[] = [];
  const sql = text.replace(CAST, '').replace(ROW_LOCK, '').replace(PLACEHOLDER, (_m, n: string) => {
    slots.push(Number(n) - 1);
    return '?';
  });
  return { sql, slots };
}

/** The arguments in the order of a rewritten statement's `?`s. */
export function bindSlots(slots: readonly number[], args: readonly unknown[]): unknown[] {
  const out = new Array<unknown>(slots.length);
  for (let i = 0; i < slots.length; i++) out[i] = args[slots[i]!];
  return out;
}
