export * from './fault-proxy.js';
export * from './nginx.js';
