export { startServer, type ServeOptions, type RunningServer } from './server.js';
export type { Lang } from './i18n.js';
