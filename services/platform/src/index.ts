export * from './platform.js';
export * from './simulated-fleet.js';
export * from './local-influx.js';
export * from './api-key.js';
