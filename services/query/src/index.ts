export * from './config.js';
export * from './fleet.js';
export * from './tariff.js';
export * from './energy.js';
export * from './methods.js';
export * from './component.js';
export * from './metrics.js';
export * from './history.js';
