export * from './quote.js';
export * from './whitelists.js';
export * from './builder.js';
export * from './client.js';
export * from './calendar.js';
