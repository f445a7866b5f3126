export * from './bus.js';
export * from './errors.js';
export * from './match.js';
export * from './dead-letters.js';
export * from './connection.js';
