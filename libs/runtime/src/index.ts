export * from './config.js';
export * from './logger.js';
export * from './shutdown.js';
export * from './health.js';
export * from './health-publisher.js';
export * from './cli.js';
export * from './broker-connection.js';
export * from './service.js';
