export * from './api-keys.js';
export * from './config.js';
export * from './connect-bus.js';
export * from './gateway.js';
export * from './openapi-components.js';
export * from './problem.js';
export * from './routes.js';
export * from './spec.js';
