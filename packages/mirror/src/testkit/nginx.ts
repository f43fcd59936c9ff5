import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Test-only: a real nginx serving a folder as plain files — the upstream a mirror faces in the
 * field — so tests meet its actual Range, Content-Length and keep-alive behaviour.
 * Everything nginx writes (pid, logs, temp paths) stays in a temp dir: it runs as root or not,
 * without touching /var or /etc.
 */

const NGINX = '/usr/sbin/nginx';

export function nginxAvailable(): boolean {
  return existsSync(NGINX);
}

export interface NginxServer {
  url: string;
  /** The temp dir holding nginx.conf, error.log and access.log. */
  dir: string;
  stop(): Promise<void>;
}

/** nginx config strings: quoted, so paths with spaces or semicolons stay one argument. */
const q = (s: string): string => `"${s.replace(/["\\$]/g, (c) => `\\${c}`)}"`;

function config(dir: string, rootDir: string, port: number, locations = ''): string {
  return `daemon off;
# One process, no privilege drop: the worker must read test folders that only root may read.
master_process off;
worker_processes 1;
pid ${q(join(dir, 'nginx.pid'))};
error_log ${q(join(dir, 'error.log'))} warn;
events { worker_connections 256; }
http {
  access_log ${q(join(dir, 'access.log'))};
  client_body_temp_path ${q(join(dir, 'client_body'))};
  proxy_temp_path ${q(join(dir, 'proxy'))};
  fastcgi_temp_path ${q(join(dir, 'fastcgi'))};
  uwsgi_temp_path ${q(join(dir, 'uwsgi'))};
  scgi_temp_path ${q(join(dir, 'scgi'))};
  types { application/json json; application/x-ndjson jsonl; }
  default_type application/octet-stream;
  sendfile on;
  keepalive_timeout 65;
  # As docs/operations.md recommends: manifests travel gzipped (mirrors ask for it), content never.
  gzip on;
  gzip_types application/json application/x-ndjson;
  gzip_min_length 256;
  server {
    listen 127.0.0.1:${port};
    root ${q(resolve(rootDir))};
    location ~ /\\. { deny all; }
${locations}
  }
}
`;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((res, rej) => {
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => res());
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

function answers(port: number): Promise<boolean> {
  return new Promise((res) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 500 }, (r) => {
      r.resume();
      res(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => res(false));
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const t = setTimeout(() => res(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      res(true);
    });
  });
}

/**
 * `opts.locations`: more of the server block, as nginx config text (a test's reverse proxy:
 * `location /library/ { proxy_pass http://127.0.0.1:8080; }`).
 */
export async function startNginx(rootDir: string, opts: { port?: number; locations?: string } = {}): Promise<NginxServer> {
  if (!nginxAvailable()) throw new Error(`${NGINX} not found (apt-get install -y --no-install-recommends nginx)`);
  const dir = await mkdtemp(join(tmpdir(), 'bookcrate-nginx-'));
  try {
    // The port is free when we ask, but another process may take it before nginx binds: retry.
    for (let tries = 1; ; tries++) {
      const port = opts.port ?? (await freePort());
      const conf = join(dir, 'nginx.conf');
      await writeFile(conf, config(dir, rootDir, port, opts.locations));
      await rm(join(dir, 'error.log'), { force: true });
      // -e: nginx opens its compiled-in error log (/var/log/nginx) before it reads the config.
      const child = spawn(NGINX, ['-p', dir + '/', '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      let exited = false;
      child.once('exit', () => (exited = true));
      const deadline = Date.now() + 10_000;
      while (!exited && Date.now() < deadline && !(await answers(port))) await new Promise((r) => setTimeout(r, 20));
      if (!exited && Date.now() < deadline) {
        return {
          url: `http://127.0.0.1:${port}/`,
          dir,
          stop: async () => {
            child.kill('SIGTERM');
            if (!(await waitExit(child, 5000))) {
              child.kill('SIGKILL');
              await waitExit(child, 5000);
            }
            await rm(dir, { recursive: true, force: true });
          },
        };
      }
      child.kill('SIGKILL');
      await waitExit(child, 5000);
      const log = stderr + (await readFile(join(dir, 'error.log'), 'utf8').catch(() => ''));
      if (opts.port === undefined && tries < 5 && /Address already in use/.test(log)) continue;
      throw new Error(`nginx did not start on 127.0.0.1:${port}: ${log.trim() || 'no answer within 10 s'}`);
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
