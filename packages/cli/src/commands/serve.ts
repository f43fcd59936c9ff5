import { networkInterfaces } from 'node:os';
import { BookcrateError, parseSize } from '@bookcrate/format';
import { startServer } from '@bookcrate/serve';
import { detectLang, messages } from '../i18n.js';

/** Runs the readers' web server until SIGINT or SIGTERM, then closes it cleanly (open downloads end). */
export async function serveCommand(flags: {
  store: string; listen: string; lang?: string; clientDownloads: string; clientQuota: string; clientRate: string;
  basePath?: string; trustProxy?: string[]; accessLog?: string;
}): Promise<number> {
  // Pages default to Chinese whatever the server's own locale (often en_US on a Linux box): the
  // readers are Chinese; each page links to the English version.
  const lang = flags.lang ? detectLang(flags.lang) : 'zh';
  const count = (text: string, flag: string, example: string): number => {
    if (!/^\d{1,9}$/.test(text.trim())) throw new BookcrateError('USAGE', `${flag} "${text}" is not a whole number`, { hint: `for example ${flag} ${example}, or 0 for no limit` });
    return Number(text);
  };
  const clientLimits = {
    downloadsAtOnce: count(flags.clientDownloads, '--client-downloads', '6'),
    requestsPerSecond: count(flags.clientRate, '--client-rate', '20'),
    bytesPerHour: parseSize(flags.clientQuota, '--client-quota'),
  };
  const server = await startServer({
    store: flags.store,
    listen: flags.listen,
    lang,
    clientLimits,
    ...(flags.basePath !== undefined ? { basePath: flags.basePath } : {}),
    ...(flags.trustProxy ? { trustedProxies: flags.trustProxy } : {}),
    ...(flags.accessLog ? { accessLog: flags.accessLog } : {}),
    log: (line) => process.stderr.write(line + '\n'),
  });
  // The console speaks the librarian's language (the locale, or --lang), the pages the readers'.
  const m = messages(detectLang(flags.lang));
  const urls = readerUrls(server.url, networkInterfaces(), server.basePath);
  process.stderr.write((urls.everyAddress ? m.serveStartedNetwork(urls.list) : m.serveStarted(urls.list[0]!)) + '\n');
  const firewall = firewallRule(process.platform, urls.everyAddress, new URL(server.url).port);
  if (firewall) process.stderr.write(m.serveFirewall(firewall) + '\n');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

/**
 * Where readers reach the server: its own URL, or, listening on every address (0.0.0.0, ::), this
 * PC's network addresses (http://0.0.0.0:8080 opens nothing on a reader's phone).
 */
export function readerUrls(url: string, interfaces: ReturnType<typeof networkInterfaces>, basePath = ''): { list: string[]; everyAddress: boolean } {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (host !== '0.0.0.0' && host !== '::') return { list: [basePath ? `${url}${basePath}/` : url], everyAddress: false };
  const list: string[] = [];
  for (const addrs of Object.values(interfaces)) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) list.push(`http://${a.address}:${u.port}${basePath}/`);
  }
  return { list: list.length > 0 ? list : [`http://127.0.0.1:${u.port}${basePath}/`], everyAddress: true };
}

/**
 * The command that lets readers through Windows' firewall, which blocks a port opened to the
 * network by a program running as a service (no prompt comes up then), for `serve` on every
 * address on Windows; none elsewhere, or on loopback.
 */
export function firewallRule(platform: NodeJS.Platform, everyAddress: boolean, port: string): string | undefined {
  if (platform !== 'win32' || !everyAddress) return undefined;
  return `netsh advfirewall firewall add rule name="bookcrate serve ${port}" dir=in action=allow protocol=TCP localport=${port}`;
}
