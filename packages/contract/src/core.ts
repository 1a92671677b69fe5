/**
 * The contract without its TypeBox schemas: error codes and AppError, the Arabic messages, patterns
 * and enumerations. What the domain, the stores and the CLI need; it loads without the schema library
 * (which the HTTP server and the SDK load through the package's main entry).
 */
export * from './errors.js';
export * from './messages.js';
export * from './constants.js';
