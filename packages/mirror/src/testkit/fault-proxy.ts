import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Test-only: an HTTP proxy in front of a real server (nginx) that injects the faults a slow private
 * network produces, so transport tests exercise real sockets rather than mocks.
 */

export type Fault =
  | { kind: 'status'; status: 500 | 502 | 503 | 404 }
  /** Sends `afterBytes` body bytes, then resets the connection (TCP RST). */
  | { kind: 'reset'; afterBytes: number }
  /** Sends `afterBytes` body bytes, goes silent for `ms`, then destroys the connection. */
  | { kind: 'stall'; afterBytes: number; ms: number }
  /** Sends the true headers and `afterBytes` body bytes, then closes the connection cleanly (FIN). */
  | { kind: 'truncate'; afterBytes: number }
  /** Flips one byte at body offset `at`; everything else passes through. */
  | { kind: 'corrupt'; at: number }
  /** Waits `ms` before forwarding. */
  | { kind: 'delay'; ms: number };

export interface FaultRequest {
  method: string;
  path: string;
  /** 1-based count of requests seen for this path, this one included. */
  attempt: number;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
  /** All request headers, as received. */
  headers: IncomingHttpHeaders;
  status: number;
  fault?: Fault['kind'];
}

export interface FaultProxy {
  url: string;
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

export async function startFaultProxy(opts: { target: string; plan?: (req: FaultRequest) => Fault | undefined }): Promise<FaultProxy> {
  const target = new URL(opts.target);
  const seen = new Map<string, number>();
  const requests: ProxiedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  // No keep-alive towards the target: each proxied request is independent, as a fault may kill it.
  const agent = new http.Agent({ keepAlive: false });

  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const attempt = (seen.get(path) ?? 0) + 1;
    seen.set(path, attempt);
    const method = req.method ?? 'GET';
    const fault = opts.plan?.({ method, path, attempt });
    const entry: ProxiedRequest = {
      method,
      path,
      headers: req.headers,
      status: 0,
      ...(req.headers.range !== undefined ? { range: req.headers.range } : {}),
      ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
      ...(fault ? { fault: fault.kind } : {}),
    };
    requests.push(entry);

    if (fault?.kind === 'status') {
      entry.status = fault.status;
      res.writeHead(fault.status, { 'content-type': 'text/plain', 'content-length': '13' });
      res.end('injected err\n');
      return;
    }
    const forward = (): void => {
      const headers = { ...req.headers, host: target.host, connection: 'close' };
      const up = http.request({ hostname: target.hostname, port: target.port, path: req.url, method, headers, agent }, (ures) => {
        entry.status = ures.statusCode ?? 0;
        // Hop-by-hop headers describe the proxy-to-target connection, not ours.
        const { connection: _c, 'keep-alive': _k, ...h } = ures.headers;
        res.writeHead(ures.statusCode ?? 502, h);
        // Node holds headers back until the first body write; a fault at byte 0 must still come
        // after the headers, as it would on the wire.
        res.flushHeaders();
        pipeWithFault(ures, res, fault, later);
      });
      up.on('error', () => {
        if (!res.headersSent) {
          entry.status = 502;
          res.writeHead(502).end();
        } else res.destroy();
      });
      // If the client goes away (it detected a stall, or aborted), stop pulling from the target.
      res.on('close', () => up.destroy());
      req.pipe(up);
    };
    if (fault?.kind === 'delay') later(fault.ms, forward);
    else forward();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

function pipeWithFault(
  from: IncomingMessage,
  to: ServerResponse,
  fault: Fault | undefined,
  later: (ms: number, fn: () => void) => void,
): void {
  const socket = to.socket as Socket | null;
  let offset = 0;
  let done = false;
  // After the cut: send exactly `upTo` bytes, wait for them to reach the kernel, then `then`.
  const cut = (chunk: Buffer, then: () => void): void => {
    done = true;
    from.destroy();
    const head = chunk.subarray(0, Math.max(0, cutAt() - offset));
    offset += head.length;
    if (head.length > 0) to.write(head, () => then());
    else then();
  };
  const cutAt = (): number => (fault && 'afterBytes' in fault ? fault.afterBytes : Infinity);

  from.on('data', (chunk: Buffer) => {
    if (done) return;
    if (fault && (fault.kind === 'reset' || fault.kind === 'stall' || fault.kind === 'truncate') && offset + chunk.length > fault.afterBytes) {
      if (fault.kind === 'reset') cut(chunk, () => (socket ? socket.resetAndDestroy() : to.destroy()));
      else if (fault.kind === 'stall') cut(chunk, () => later(fault.ms, () => to.destroy()));
      // end() on the socket, not the response: a FIN mid-body, with the HTTP message incomplete.
      else cut(chunk, () => socket?.end());
      return;
    }
    if (fault?.kind === 'corrupt' && fault.at >= offset && fault.at < offset + chunk.length) {
      chunk = Buffer.from(chunk);
      chunk[fault.at - offset] = chunk[fault.at - offset]! ^ 0xff;
    }
    offset += chunk.length;
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', () => {
    if (!done) to.end();
  });
  from.on('error', () => {
    if (!done) to.destroy();
  });
}
