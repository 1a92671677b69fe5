export * from './errors.js';
export * from './messages.js';
export * from './schemas.js';
