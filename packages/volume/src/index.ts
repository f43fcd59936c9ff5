export * from './layout.js';
export * from './reader.js';
export * from './open.js';
export * from './verify.js';
