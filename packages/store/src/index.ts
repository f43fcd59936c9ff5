export * from './db.js';
export * from './lock.js';
export * from './store.js';
export * from './objects.js';
export * from './tree.js';
export * from './parts.js';
export * from './staging.js';
export * from './tree-link.js';
