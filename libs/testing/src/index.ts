export * from './ports.js';
export * from './process.js';
export * from './influxd.js';
export * from './mosquitto.js';
export * from './aedes.js';
export * from './brokers.js';
export * from './program.js';
export * from './prometheus.js';
