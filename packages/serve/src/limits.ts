import { isIP } from 'node:net';

/**
 * What one reader's computer may take from the library server, at once and over time. The
 * programme asks for protection against malicious bulk download, and a county's server is one PC
 * whose disk and network every reader shares: a script that walks the whole library must not
 * starve the readers, and must not carry the library away in an afternoon.
 *
 * Per client (an IPv4 address, or an IPv6 /64: one household or PC, however many addresses it
 * takes from its prefix):
 * - requests: a token bucket of `requestsPerSecond`, with a burst of ten seconds' worth. A reader's
 *   pages, searches, a photo page's images and a video's seeks stay far below it.
 * - downloads at once: file and zip responses still streaming to the client. A browser opens at
 *   most six connections to a server, so six refuses no browser; a downloader with 50 threads is.
 * - bytes an hour: a token bucket of `bytesPerHour`, refilled continuously. A response's bytes are
 *   taken from it when it ends, and count while it streams: a new download is refused while the
 *   bucket, less what the client's downloads under way have sent so far, is empty, until it has
 *   refilled above zero. So a computer that starts six 4 GB films one after another is stopped
 *   once they have brought it to its hour's bytes, not only once they have ended. 0 turns it off.
 *
 * Pure bookkeeping with an injected clock: the server asks, and turns a refusal into a 429 page.
 */
export interface ClientLimitOptions {
  requestsPerSecond: number;
  downloadsAtOnce: number;
  /** 0: no limit */
  bytesPerHour: number;
}

export const DEFAULT_CLIENT_LIMITS: ClientLimitOptions = {
  requestsPerSecond: 20,
  downloadsAtOnce: 6,
  bytesPerHour: 20e9,
};

export type Refusal = { why: 'requests' | 'downloads' | 'bytes'; retryAfterSeconds: number };

interface Client {
  requests: number;
  bytes: number;
  at: number; // ms, when the buckets were last refilled
  active: number;
  /** the bytes each download under way has sent so far (asked only when a new one starts) */
  sending: Set<() => number>;
}

const HOUR_MS = 3_600_000;

export class ClientLimits {
  private readonly clients = new Map<string, Client>();
  private readonly burst: number;
  private asked = 0;

  constructor(private readonly opts: ClientLimitOptions, private readonly now: () => number = () => performance.now()) {
    this.burst = Math.max(1, opts.requestsPerSecond * 10);
  }

  /** Takes one request's token; a refusal says when one will be there. */
  request(client: string): Refusal | undefined {
    if (++this.asked % 1024 === 0) this.forgetIdle();
    if (this.opts.requestsPerSecond <= 0) return undefined; // no limit: nothing to keep either
    const c = this.refilled(client);
    if (c.requests < 1) return { why: 'requests', retryAfterSeconds: Math.max(1, Math.ceil((1 - c.requests) / this.opts.requestsPerSecond)) };
    c.requests -= 1;
    return undefined;
  }

  /**
   * Starts a download (a file or zip response) for `client`: a refusal, or the function to call once
   * when the response has ended, with the bytes it sent. `sentSoFar` tells, while it streams, what it
   * has sent (the server reads its socket's counter): the quota counts it before the end.
   */
  download(client: string, sentSoFar?: () => number): Refusal | ((bytesSent: number) => void) {
    const c = this.refilled(client);
    if (this.opts.downloadsAtOnce > 0 && c.active >= this.opts.downloadsAtOnce) return { why: 'downloads', retryAfterSeconds: 10 };
    if (this.opts.bytesPerHour > 0) {
      let left = c.bytes;
      for (const sent of c.sending) left -= sent();
      if (left <= 0) return { why: 'bytes', retryAfterSeconds: Math.max(1, Math.ceil(((1 - left) / this.opts.bytesPerHour) * 3600)) };
      if (sentSoFar) c.sending.add(sentSoFar);
    }
    c.active++;
    let ended = false;
    return (bytesSent: number) => {
      if (ended) return;
      ended = true;
      const now = this.refilled(client);
      now.active--;
      if (sentSoFar) now.sending.delete(sentSoFar);
      if (this.opts.bytesPerHour > 0) now.bytes -= bytesSent;
    };
  }

  /** Clients tracked (for tests: idle ones are forgotten). */
  get size(): number {
    return this.clients.size;
  }

  private refilled(key: string): Client {
    const t = this.now();
    let c = this.clients.get(key);
    if (!c) {
      c = { requests: this.burst, bytes: this.opts.bytesPerHour, at: t, active: 0, sending: new Set() };
      this.clients.set(key, c);
      return c;
    }
    const ms = Math.max(0, t - c.at);
    c.requests = Math.min(this.burst, c.requests + (ms / 1000) * this.opts.requestsPerSecond);
    c.bytes = Math.min(this.opts.bytesPerHour, c.bytes + (ms / HOUR_MS) * this.opts.bytesPerHour);
    c.at = t;
    return c;
  }

  /** A client with nothing streaming and full buckets is the same as one never seen: forgotten. */
  forgetIdle(): void {
    for (const key of [...this.clients.keys()]) {
      const c = this.refilled(key);
      if (c.active === 0 && c.requests >= this.burst && c.bytes >= this.opts.bytesPerHour) this.clients.delete(key);
    }
  }
}

/**
 * The client a request comes from: its IPv4 address (also when written as an IPv4-mapped IPv6
 * address), or the first four groups of its IPv6 address (the /64 one network hands out).
 */
export function clientKey(remoteAddress: string | undefined): string {
  if (!remoteAddress) return '?';
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (v4) return v4[1]!;
  const addr = remoteAddress.toLowerCase().replace(/%.*$/, '');
  // expand "::" so that the first four groups are the prefix
  const [head, tail] = addr.includes('::') ? addr.split('::') as [string, string] : [addr, undefined];
  const left = head ? head.split(':') : [];
  const right = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':') + '::/64';
}

/** An address as a set of trusted proxies holds it: IPv4-mapped IPv6 written as IPv4, lower case, no zone. */
export function plainAddress(address: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return v4 ? v4[1]! : address.toLowerCase().replace(/%.*$/, '');
}

/**
 * One hop of an X-Forwarded-For header as an address, or undefined when it is none: proxies write
 * `203.0.113.7`, some with a port (`203.0.113.7:51234`, `[2001:db8::7]:51234`).
 */
function forwardedHop(hop: string): string | undefined {
  const s = hop.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  const v4port = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(s);
  const address = bracketed ? bracketed[1]! : v4port ? v4port[1]! : s;
  return isIP(address) ? plainAddress(address) : undefined;
}

/**
 * The address of the reader a request comes from. Behind the library's portal (a reverse proxy),
 * every request comes from the proxy: when the connection's address is one of `trustedProxies`, the
 * reader is the last address in X-Forwarded-For that is not itself a trusted proxy, read from the
 * right, since each proxy appends the address it saw and only those hops are vouched for; a
 * reader's browser may send the header too, and what it wrote stays on the left, unread. Without
 * trusted proxies, or from any other address, the header is ignored: a reader cannot choose the
 * address its limits are counted against.
 */
export function readerAddress(remoteAddress: string | undefined, forwardedFor: string | string[] | undefined, trustedProxies: ReadonlySet<string>): string | undefined {
  if (remoteAddress === undefined) return undefined;
  let address = plainAddress(remoteAddress);
  if (!trustedProxies.has(address) || forwardedFor === undefined) return address;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = forwardedHop(hops[i]!);
    if (hop === undefined) break; // a hop that is no address: the one before it is the last known
    address = hop;
    if (!trustedProxies.has(hop)) break;
  }
  return address;
}
