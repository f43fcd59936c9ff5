export * from './layout.js';
export * from './reader.js';
export * from './open.js';
export * from './verify.js';
export * from './buffer-pool.js';
export * from './hash-thread.js';
export * from './segment-stream.js';
export * from './read-ahead.js';
