export * from './source.js';
export * from './walk.js';
export * from './pack.js';
export * from './keys.js';
