export * from './config.js';
export * from './device-metrics.js';
export * from './hook.js';
