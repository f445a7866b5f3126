export * from './agent.js';
export * from './config.js';
export * from './controller.js';
export * from './device-session.js';
export * from './device-wills.js';
export * from './metrics.js';
export * from './poller.js';
export * from './publisher.js';
