export * from './publish.js';
export { STATE_DIR } from './repo.js';
export type { HistoryEntry } from './history.js';
