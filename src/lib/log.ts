/** The logging surface background work needs; pino loggers (and fastify's) satisfy it. */
export interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
