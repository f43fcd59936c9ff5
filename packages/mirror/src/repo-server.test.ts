import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '@bookcrate/store';
import { tempDir } from '../../../fixtures/tree.js';
import { Upstream } from './http.js';
import { startRepoServer, type RunningRepoServer } from './repo-server.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const partPath = (sha: string): string => `parts/${sha.slice(0, 2)}/${sha}.jsonl`;

/**
 * A municipal mirror's upstream on loopback: it holds `parts` (by path), answers 404 otherwise or a
 * 503 while `down`, and counts what it is asked and how many requests it holds at once. Each answer
 * waits `delayMs`, so that requests of the tier below overlap.
 */
async function fakeUpstream(parts: Map<string, Buffer>, delayMs = 60) {
  const asked: string[] = [];
  let now = 0;
  let most = 0;
  const state = { down: false };
  const server = http.createServer((req, res) => {
    asked.push(req.url!);
    most = Math.max(most, ++now);
    setTimeout(() => {
      now--;
      const body = parts.get(req.url!.slice(1));
      if (state.down) res.writeHead(503, { 'Retry-After': '0' }).end('down\n');
      else if (body) res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Content-Length': body.length }).end(body);
      else res.writeHead(404).end('not found\n');
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    asked,
    state,
    mostAtOnce: () => most,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function mirrorBeside(upstreamUrl: string, retries = 1): Promise<{ server: RunningRepoServer; store: Store; logs: Record<string, unknown>[] }> {
  const store = await Store.open(await tempDir('bookcrate-repo-server-'), { create: true });
  cleanups.push(() => store.close());
  const logs: Record<string, unknown>[] = [];
  const upstream = new Upstream(upstreamUrl, { retries, maxSockets: 8, backoffMs: 5, maxBackoffMs: 20 });
  const server = await startRepoServer({
    store, listen: '127.0.0.1:0', upstream, status: () => ({}), metrics: () => '', log: (e) => logs.push(e),
  });
  cleanups.push(() => server.close());
  return { server, store, logs };
}

/** Asks the mirror for `path` and reads the whole answer. */
async function ask(base: string, path: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(new URL(path, base));
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

describe('manifest parts a mirror lacks, fetched for the tier below', () => {
  it('fetches a part once for many who ask at once, checks it, keeps it, and serves it from the store after', async () => {
    const part = Buffer.from(`${JSON.stringify({ path: '地方戏曲/黄梅戏/天仙配.mp4', size: 1 })}\n`);
    const sha = sha256(part);
    const up = await fakeUpstream(new Map([[partPath(sha), part]]));
    cleanups.push(up.close);
    const { server, store } = await mirrorBeside(up.url);
    const answers = await Promise.all(Array.from({ length: 12 }, () => ask(server.url, partPath(sha))));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.body.equals(part)).toBe(true);
    }
    expect(up.asked).toEqual([`/${partPath(sha)}`]);
    expect(server.partsOnDemand).toMatchObject({ fetched: 1, shared: 11, missing: 0 });
    expect((await readFile(store.paths.part(sha))).equals(part)).toBe(true);
    // Kept: the next ask does not reach the upstream.
    expect((await ask(server.url, partPath(sha))).status).toBe(200);
    expect(up.asked).toHaveLength(1);
  });

  it('answers 404 for a minute without asking again when the upstream lacks the part, or sends other bytes', async () => {
    const wrong = Buffer.from('{"not":"the part asked for"}\n');
    const lied = sha256(Buffer.from('what the tier below asked for'));
    const absent = sha256(Buffer.from('a part nobody has'));
    const up = await fakeUpstream(new Map([[partPath(lied), wrong]]));
    cleanups.push(up.close);
    const { server, store } = await mirrorBeside(up.url);
    for (let round = 0; round < 3; round++) {
      for (const sha of [lied, absent]) {
        const answers = await Promise.all(Array.from({ length: 4 }, () => ask(server.url, partPath(sha))));
        expect(answers.map((a) => a.status)).toEqual([404, 404, 404, 404]);
      }
    }
    expect(up.asked.sort()).toEqual([`/${partPath(absent)}`, `/${partPath(lied)}`].sort());
    expect(server.partsOnDemand).toMatchObject({ fetched: 0, missing: 2, shared: 6, rememberedMissing: 16 });
    await expect(readFile(store.paths.part(lied))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fetches at most two parts at once however many different ones the tier below asks for', async () => {
    const parts = new Map<string, Buffer>();
    const shas: string[] = [];
    for (let i = 0; i < 10; i++) {
      const part = Buffer.from(`${JSON.stringify({ path: `老照片/${i}.jpg`, noise: randomBytes(8).toString('hex') })}\n`);
      shas.push(sha256(part));
      parts.set(partPath(sha256(part)), part);
    }
    const unknown = Array.from({ length: 30 }, (_, i) => sha256(Buffer.from(`unknown ${i}`)));
    const up = await fakeUpstream(parts, 40);
    cleanups.push(up.close);
    const { server } = await mirrorBeside(up.url);
    const answers = await Promise.all([...shas, ...unknown].map((sha) => ask(server.url, partPath(sha))));
    expect(answers.map((a) => a.status)).toEqual([...shas.map(() => 200), ...unknown.map(() => 404)]);
    expect(up.asked).toHaveLength(40);
    expect(up.mostAtOnce()).toBe(2);
  });

  it('tries an upstream that cannot answer twice, not the daemon\'s six times, and does not remember it: the next ask tries again', async () => {
    const part = Buffer.from('{"path":"政府信息/公告.pdf"}\n');
    const sha = sha256(part);
    const up = await fakeUpstream(new Map([[partPath(sha), part]]), 0);
    cleanups.push(up.close);
    const { server, logs } = await mirrorBeside(up.url, 6);
    up.state.down = true;
    expect((await ask(server.url, partPath(sha))).status).toBe(404);
    expect(up.asked).toHaveLength(2);
    expect(logs).toContainEqual(expect.objectContaining({ event: 'part-fetch-failed', part: sha }));
    up.state.down = false;
    const again = await ask(server.url, partPath(sha));
    expect(again.status).toBe(200);
    expect(again.body.equals(part)).toBe(true);
    expect(server.partsOnDemand).toMatchObject({ failed: 1, fetched: 1, rememberedMissing: 0 });
  });
});
