export * from './config.js';
export * from './wal.js';
export * from './drain.js';
export * from './storage-hook.js';
export * from './metrics.js';
