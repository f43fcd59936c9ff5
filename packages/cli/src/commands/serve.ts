import { startServer } from '@bookcrate/serve';
import { detectLang } from '../i18n.js';

/** Runs the readers' web server until SIGINT or SIGTERM, then closes it cleanly (open downloads end). */
export async function serveCommand(flags: { store: string; listen: string; lang?: string }): Promise<number> {
  // Pages default to Chinese whatever the server's own locale (often en_US on a Linux box): the
  // readers are Chinese; each page links to the English version.
  const lang = flags.lang ? detectLang(flags.lang) : 'zh';
  const server = await startServer({
    store: flags.store,
    listen: flags.listen,
    lang,
    log: (line) => process.stderr.write(line + '\n'),
  });
  process.stderr.write(lang === 'zh' ? `书库网页服务已启动：${server.url}  （按 Ctrl-C 停止）\n` : `Serving the library at ${server.url}  (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
