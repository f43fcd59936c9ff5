import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { expect, onTestFinished } from 'vitest';
import { buildTree, tempDir, type TreeSpec } from '../../../fixtures/tree.js';

export const BIN = fileURLToPath(new URL('../../../bin/bookcrate', import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `bin/bookcrate` in a child process. */
export function run(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LANG: 'C', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export function start(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LANG: 'C', ...env }, stdio: 'ignore' });
}

/**
 * The real `bookcrate serve` on a free loopback port, once it listens: its URL, and what it has
 * written to stderr so far. The caller stops it (child.kill).
 */
export async function startServe(store: string, env: Record<string, string> = {}, args: string[] = []): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--store', store, '--listen', '127.0.0.1:0', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+/.exec(stderr);
      if (m) resolve(m[0]);
    });
    child.on('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

/**
 * Two snapshots hold the same files with the same bytes; `where` names the tree in a failure.
 * (toEqual on megabytes of Buffers compares them byte by byte, in seconds.)
 */
export function sameFiles(got: Map<string, Buffer>, expected: Map<string, Buffer>, where = ''): void {
  expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [path, bytes] of expected) expect(got.get(path)!.equals(bytes), `${where}${path}`).toBe(true);
}

/** Every regular file under dir, relative path → bytes' content (for byte-for-byte comparisons). */
export async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(relative(dir, p), await readFile(p));
    }
  }
  await walk(dir);
  return out;
}

/** Every regular file under dir, relative path → SHA-256 of its bytes (compact to compare, and to print on a mismatch). */
export async function digests(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [k, v] of await snapshot(dir)) out.set(k, createHash('sha256').update(v).digest('hex'));
  return out;
}

/**
 * The catalog's view of a store, for comparing two stores: versions, volumes, files and their
 * states, resources, objects, damaged files.
 */
export function catalogView(store: string): unknown {
  const db = new Database(join(store, 'catalog.sqlite'), { readonly: true });
  try {
    return {
      versions: db.prepare('SELECT bundle_id, version, set_id, state, is_current, files, bytes FROM versions ORDER BY id').all(),
      volumes: db.prepare('SELECT volume, state FROM volumes ORDER BY volume').all(),
      files: db.prepare('SELECT path, type, size, sha256, resource, volume, state FROM files ORDER BY path').all(),
      resources: db.prepare('SELECT id, collection, title, creator FROM resources ORDER BY id').all(),
      objects: db.prepare('SELECT sha256, size FROM objects ORDER BY sha256').all(),
      damaged: db.prepare('SELECT path, reason FROM damaged ORDER BY path').all(),
    };
  } finally {
    db.close();
  }
}

/**
 * Every entry of a tree, as `path/` for a folder and `path <sha256>` for a file, sorted: the exact
 * shape readers get, empty folders included.
 */
export async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string, rel: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.push(`${r}/`);
        await walk(join(d, e.name), r);
      } else out.push(`${r} ${createHash('sha256').update(await readFile(join(d, e.name))).digest('hex')}`);
    }
  }
  await walk(dir, '');
  return out.sort();
}

export async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

export function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Flips one bit of the byte at `offset`: the smallest damage a disk can suffer. */
export async function flip(path: string, offset: number, bit = 0x01): Promise<void> {
  const h = await open(path, 'r+');
  const b = Buffer.alloc(1);
  await h.read(b, 0, 1, offset);
  b[0] = (b[0] ?? 0) ^ bit;
  await h.write(b, 0, 1, offset);
  await h.close();
}

/**
 * Starts the CLI with `args`, waits until `ready()` holds (polling every 2 ms), then SIGKILLs it:
 * the crash tests' power cut. Returns false if the command finished before `ready()` held.
 */
export async function killWhen(args: string[], env: Record<string, string>, ready: () => Promise<boolean>): Promise<boolean> {
  const child = start(args, env);
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  let done = false;
  void closed.then(() => (done = true));
  while (!done && !(await ready())) await new Promise((r) => setTimeout(r, 2));
  const killed = !done;
  if (killed) child.kill('SIGKILL');
  await closed;
  return killed;
}

/**
 * A real small filesystem for the full-disk tests: `dir` made and a tmpfs of `size` (e.g. '7m')
 * mounted on it. Undefined where that cannot be done (not root, no mount in this container): the
 * caller skips. Unmount with `execFileSync('umount', [dir])`.
 */
export async function smallFilesystem(dir: string, size: string): Promise<string | undefined> {
  await mkdir(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return dir;
  } catch {
    return undefined;
  }
}

/** smallFilesystem for the test that calls it: unmounted when that test ends, however it ends. */
export async function smallFilesystemForTest(dir: string, size: string): Promise<string | undefined> {
  const mnt = await smallFilesystem(dir, size);
  if (mnt) onTestFinished(() => void execFileSync('umount', [mnt]));
  return mnt;
}

/**
 * A store with one bundle imported with the real CLI: the folder `name` (its tree `spec`) packed with
 * a new center key and imported. Where its work folder, source, disk, store and readers' folder are.
 */
export async function importedStore(prefix: string, spec: TreeSpec, name = '老照片') {
  const work = await tempDir(prefix);
  const src = join(work, name);
  await buildTree(src, spec);
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  const disk = join(work, 'disk');
  expect((await run(['pack', src, '--key', join(work, 'center.key'), '--out', disk])).code).toBe(0);
  const store = join(work, 'store');
  const imp = await run(['import', disk, '--store', store, '--trust', join(work, 'center.pub')]);
  expect(imp.code, imp.stderr).toBe(0);
  const bundles = await readdir(join(store, 'library'));
  const readers = join(store, 'library', bundles.find((b) => !b.startsWith('.'))!);
  return { work, src, disk, store, readers };
}
