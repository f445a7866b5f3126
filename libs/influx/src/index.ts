export * from './connection.js';
export * from './server.js';
export * from './http.js';
export * from './database.js';
export * from './write/index.js';
export * from './query/index.js';
export * from './energy/index.js';
