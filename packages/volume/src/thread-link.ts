import { MessageChannel, Worker, type MessagePort, type ResourceLimits, type TransferListItem } from 'node:worker_threads';

/**
 * One service's line to the worker thread that runs it (the hashing of HashThread, the small-object
 * writing of the importer's SmallWriter): messages both ways, and word when the thread is gone.
 *
 * A service runs either on a thread of its own (`ownThread`) or beside other services on one thread
 * (`SharedThread`). Each thread is a V8 isolate of ~9 MiB before it does anything: an import that
 * hashes its large files and writes its small ones on one thread instead of two keeps that much off
 * its peak (docs/performance.md, "Run AU").
 */
export interface ThreadLink {
  /** Starts the thread, if it was not; posting starts it too. */
  start(): void;
  /** Whether the thread was started for this link. */
  readonly started: boolean;
  post(message: unknown, transfer?: readonly TransferListItem[]): void;
  /** Sets the handlers: the service's messages, and the thread's end or error while the link is open. Call once, before `start`. */
  listen(onMessage: (message: any) => void, onFailure: (e: Error) => void): void;
  /** Ends this service's use of the thread: a thread of its own is stopped, a shared one once no link is open. */
  close(): Promise<void>;
}

/** What a service's side receives: the port to serve on and the data it was given. */
export interface ServiceStart<D = unknown> {
  port: MessagePort;
  data: D;
}

/** The `workerData` of a SharedThread's worker: one ServiceStart per service, by name. */
export interface SharedThreadData {
  services: Record<string, ServiceStart>;
}

/**
 * A service on a thread of its own: the worker at `url` gets `data` as its `workerData` and serves
 * on `parentPort`. `what` names the thread in the error when it stops ("the hashing thread").
 */
export function ownThread(url: URL, data: unknown, opts: { what: string; resourceLimits?: ResourceLimits; transferList?: readonly TransferListItem[] }): ThreadLink {
  let worker: Worker | undefined;
  let closed = false;
  let onMessage: (m: unknown) => void = () => undefined;
  let onFailure: (e: Error) => void = () => undefined;
  const boot = (): Worker => {
    if (worker) return worker;
    const w = new Worker(url, { workerData: data, resourceLimits: opts.resourceLimits, transferList: opts.transferList as TransferListItem[] | undefined });
    worker = w;
    w.on('message', (m) => onMessage(m));
    w.on('error', (e) => onFailure(e));
    w.on('exit', (code) => {
      if (!closed) onFailure(new Error(`${opts.what} stopped (exit code ${code})`));
    });
    return w;
  };
  return {
    start: () => void boot(),
    get started() {
      return worker !== undefined;
    },
    post: (m, transfer) => boot().postMessage(m, transfer as TransferListItem[] | undefined),
    listen(m, f) {
      onMessage = m;
      onFailure = f;
    },
    async close() {
      closed = true;
      await worker?.terminate();
    },
  };
}

interface SharedLinkState {
  name: string;
  port?: MessagePort;
  open: boolean;
  started: boolean;
  onMessage: (m: unknown) => void;
  onFailure: (e: Error) => void;
}

/**
 * One worker thread that runs several services, each over a MessagePort of its own. The worker at
 * `url` gets a SharedThreadData and starts every service on its port; it boots when the first link
 * starts (so a service that is never used costs nothing but its port) and stops when every link was
 * closed, or at `close`. An error or exit of the thread fails every open link.
 */
export class SharedThread {
  private worker: Worker | undefined;
  private readonly links = new Map<string, SharedLinkState>();
  private closed = false;
  /** workers made (at most one; tests read it) */
  boots = 0;

  constructor(
    private readonly url: URL,
    private readonly services: Record<string, unknown>,
    private readonly opts: { what: string; resourceLimits?: ResourceLimits },
  ) {
    for (const name of Object.keys(services)) this.links.set(name, { name, open: true, started: false, onMessage: () => undefined, onFailure: () => undefined });
  }

  /** The link of service `name` (one of the services given at construction). */
  link(name: string): ThreadLink {
    const s = this.links.get(name);
    if (!s) throw new Error(`${this.opts.what} has no service "${name}"`);
    return {
      start: () => void this.port(s),
      get started() {
        return s.started;
      },
      post: (m, transfer) => this.port(s).postMessage(m, transfer as TransferListItem[] | undefined),
      listen(m, f) {
        s.onMessage = m;
        s.onFailure = f;
      },
      close: () => this.closeLink(s),
    };
  }

  private port(s: SharedLinkState): MessagePort {
    if (!s.open || this.closed) throw new Error(`${this.opts.what}: the ${s.name} service was closed`);
    s.started = true;
    this.boot();
    return s.port!;
  }

  private boot(): void {
    if (this.worker) return;
    const services: Record<string, ServiceStart> = {};
    const ports: MessagePort[] = [];
    for (const s of this.links.values()) {
      const { port1, port2 } = new MessageChannel();
      s.port = port1;
      port1.on('message', (m) => s.onMessage(m));
      services[s.name] = { port: port2, data: this.services[s.name] };
      ports.push(port2);
    }
    const w = new Worker(this.url, { workerData: { services } satisfies SharedThreadData, transferList: ports, resourceLimits: this.opts.resourceLimits });
    this.worker = w;
    this.boots++;
    w.on('error', (e) => this.failAll(e));
    w.on('exit', (code) => {
      if (!this.closed) this.failAll(new Error(`${this.opts.what} stopped (exit code ${code})`));
    });
  }

  private failAll(e: Error): void {
    for (const s of this.links.values()) if (s.open) s.onFailure(e);
  }

  private async closeLink(s: SharedLinkState): Promise<void> {
    if (!s.open) return;
    s.open = false;
    s.port?.close();
    if ([...this.links.values()].every((l) => !l.open)) await this.close();
  }

  /** Stops the thread, whatever links are still open (they get no failure: their owner ended them). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.links.values()) {
      s.open = false;
      s.port?.close();
    }
    await this.worker?.terminate();
  }
}
