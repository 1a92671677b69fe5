/** Errors a person can act on: the CLI prints their message, without a stack. */

/** A command used wrongly (flags that do not go together). */
export class UsageError extends Error {}

/** The server a `topup` command talks to answered with an error, or could not be reached. */
export class CliHttpError extends Error {}
