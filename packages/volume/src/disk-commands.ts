import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * The two things node cannot ask of the kernel itself, run as the small commands that can:
 * `sync -f` (syncfs: make every written file of a filesystem durable at once, instead of an fsync
 * per small file) and `dd iflag=nocache count=0` (posix_fadvise DONTNEED: start the write-back of a
 * file's dirty pages and drop its clean ones).
 *
 * They run through one small shell per thread (`CommandShell`), not as a child process each: node
 * forks its whole process for every child, which copies the page tables of a heap of ~150 MB and
 * blocks the calling thread 5–10 ms each time. An import of the benchmark's volume ran 47 syncs, a
 * pack of it ~47 dd's: through the shell, whose own forks copy almost nothing, the import took
 * ~1 s less (docs/performance.md, run BP).
 */

/**
 * `sync -f dir` (syncfs of the filesystem holding `dir`); false where it did not succeed (no GNU
 * coreutils, e.g. Windows, or a write-back error), and the caller falls back to an fsync per file.
 */
export function syncFilesystem(dir: string): Promise<boolean> {
  // Windows has no syncfs, and a `sync.exe` found on its PATH (Sysinternals' Sync, an MSYS one)
  // would be trusted on an exit code that does not mean the files are on the disk.
  if (process.platform === 'win32') return Promise.resolve(false);
  return run('sync', dir);
}

/**
 * Asks the kernel to drop a file's cached pages (posix_fadvise DONTNEED through dd). Best effort.
 * Dirty pages are not dropped but their writeback is started, without waiting for it: pack uses
 * this to keep the disk writing behind a segment (see SegmentWriter.writeBack).
 */
export function dropCachedPages(path: string): Promise<boolean> {
  return run('dd', path);
}

type Verb = 'sync' | 'dd';

const argsOf = (verb: Verb, path: string): string[] =>
  verb === 'sync' ? ['-f', path] : [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none'];

function run(verb: Verb, given: string): Promise<boolean> {
  // The shell keeps the working folder it started in: a relative path is made whole here.
  const path = resolve(given);
  // A request is a line: a path with a line break in it cannot be one. Windows has no /bin/sh.
  if (path.includes('\n') || process.platform === 'win32') return inChild(verb, path);
  return commandShell().run(verb, path);
}

/** The command as a child process of this one. */
function inChild(verb: Verb, path: string): Promise<boolean> {
  return new Promise((res) => {
    const child = spawn(verb, argsOf(verb, path), { stdio: 'ignore' });
    child.on('error', () => res(false));
    child.on('close', (code) => res(code === 0));
  });
}

/**
 * The shell's loop. Requests are lines `<id> <verb> <path>`; each runs in the background, so two
 * syncs can run at once (the import's write-behind wants two, importer/write-behind.ts), and is
 * answered by a line `<id> 0` (exit status 0) or `<id> 1`. An answer is shorter than PIPE_BUF, so
 * answers of commands ending together are written whole, never mixed.
 */
const LOOP = [
  'while IFS= read -r line; do',
  '  id=${line%% *}; rest=${line#* }; verb=${rest%% *}; p=${rest#* }',
  '  { if [ "$verb" = sync ]; then sync -f -- "$p"; else dd if="$p" iflag=nocache count=0 status=none; fi',
  '  } >/dev/null 2>&1 </dev/null && echo "$id 0" || echo "$id 1" &',
  'done',
  'wait',
].join('\n');

/**
 * One `/bin/sh` running LOOP. It runs with the PATH the thread had when it started; a thread that
 * changes its PATH (a test taking `sync` away) gets a new one. While nothing is asked of it, it does
 * not keep the process alive. If it cannot start or dies, every command it had not answered is said
 * to have failed (the callers then fall back: an fsync per file, a datasync), and the next command
 * starts a new one.
 */
class CommandShell {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<number, (ok: boolean) => void>();
  private nextId = 1;
  private partial = '';
  broken = false;

  constructor(readonly path: string | undefined) {
    this.child = spawn('/bin/sh', ['-c', LOOP], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child.on('error', () => this.fail());
    this.child.on('close', () => this.fail());
    this.child.stdin!.on('error', () => this.fail());
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (text: string) => this.answered(text));
    this.idle();
  }

  run(verb: Verb, path: string): Promise<boolean> {
    const id = this.nextId++;
    if (this.waiting.size === 0) this.busy();
    return new Promise((res) => {
      this.waiting.set(id, res);
      this.child.stdin!.write(`${id} ${verb} ${path}\n`);
    });
  }

  close(): void {
    this.child.stdin!.end();
  }

  private answered(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) {
      const space = line.indexOf(' ');
      const id = Number(line.slice(0, space));
      const res = this.waiting.get(id);
      if (!res) continue;
      this.waiting.delete(id);
      res(line.slice(space + 1) === '0');
    }
    if (this.waiting.size === 0) this.idle();
  }

  private fail(): void {
    if (this.broken) return;
    this.broken = true;
    for (const res of this.waiting.values()) res(false);
    this.waiting.clear();
    this.idle();
  }

  private busy(): void {
    this.child.ref();
    refOf(this.child.stdout).ref();
  }

  private idle(): void {
    this.child.unref();
    refOf(this.child.stdout).unref();
    refOf(this.child.stdin).unref();
  }
}

/** A child's pipe is a net.Socket, which can stop keeping the process alive; its type does not say so. */
const refOf = (stream: unknown): { ref(): void; unref(): void } => stream as { ref(): void; unref(): void };

let shell: CommandShell | undefined;

function commandShell(): CommandShell {
  if (shell && (shell.broken || shell.path !== process.env.PATH)) {
    shell.close();
    shell = undefined;
  }
  shell ??= new CommandShell(process.env.PATH);
  return shell;
}
