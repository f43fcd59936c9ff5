export * from './http.js';
export * from './sync.js';
export * from './repo-server.js';
export * from './daemon.js';
