export * from './ids.js';
export * from './errors.js';
export * from './topics.js';
export * from './schemas.js';
export * from './validation.js';
export * from './commands.js';
export * from './http.js';
export * from './alerts.js';
