export * from './import.js';
export * from './import-thread.js';
