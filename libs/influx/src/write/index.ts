export * from './line-protocol.js';
export * from './reading-line.js';
export * from './backoff.js';
export * from './writer.js';
export * from './history-line.js';
