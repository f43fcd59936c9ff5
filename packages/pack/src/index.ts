export * from './source.js';
export * from './walk.js';
export * from './scan.js';
export * from './pack.js';
export * from './keys.js';
export { fsyncDir } from './fsutil.js';
