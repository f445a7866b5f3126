export * from './config.js';
export * from './logger.js';
export * from './shutdown.js';
export * from './health.js';
export * from './cli.js';
export * from './metrics.js';
