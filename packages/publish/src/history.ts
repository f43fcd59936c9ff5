import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BookcrateError, formatFingerprint, keyFingerprint, repoPaths, verifyPointerFile, type Pointer } from '@bookcrate/format';
import type { Repo } from './repo.js';

/** One version this repository has published. */
export interface HistoryEntry {
  version: number;
  root: string; // SHA-256 of roots/<root>.json
  size: number; // its size (the pointer carries it)
  created: string; // bundle.created of the version
  published: string; // when its first pointer was issued
  /**
   * When the run that published it began reading the source. An entry can only be reused for a file
   * whose mtime is before this second: a file rewritten (same size) in the very second it was read
   * keeps its mtime, and would otherwise keep its old hash forever ("racy" files, as git calls them).
   * Unknown for a version recovered from latest.json, whose files are then all read again.
   */
  scanned?: string;
  pruned?: true; // dropped by retention: its root (and whatever only it used) is deleted
}

/**
 * `.bookcrate-publish/history.json`: the versions published here, newest last. It decides the next
 * version number (pruned versions are kept in it, so a number is never reused), which version the
 * next publish compares with, and what retention keeps. It is rewritten whole (temp, fsync, rename).
 *
 * `latest.json` is the truth about what mirrors see, and it is renamed into place before the history
 * is updated; a run killed between the two leaves a pointer the history lacks, which `loadHistory`
 * adds back from the pointer and its root. So the history never names a version that was not
 * published, and never misses one that was.
 */
export interface History {
  format: typeof HISTORY_FORMAT;
  bundle: string | undefined;
  versions: HistoryEntry[];
}

const HISTORY_FORMAT = 'bookcrate-publish-history/1';

export function historyPath(repo: Repo): string {
  return join(repo.state, 'history.json');
}

export async function saveHistory(repo: Repo, h: History): Promise<void> {
  const doc = { format: HISTORY_FORMAT, bundle: h.bundle, versions: [...h.versions].sort((a, b) => a.version - b.version) };
  await repo.writeAtomic(historyPath(repo), Buffer.from(JSON.stringify(doc, null, 1) + '\n'), true);
}

/** The newest version that is still kept, if any: what the next publish compares with and reuses. */
export function currentVersion(h: History): HistoryEntry | undefined {
  let best: HistoryEntry | undefined;
  for (const v of h.versions) if (!v.pruned && (!best || v.version > best.version)) best = v;
  return best;
}

export function newestNumber(h: History): number {
  return h.versions.reduce((m, v) => Math.max(m, v.version), 0);
}

/**
 * Reads the history and reconciles it with `latest.json`. Refuses a repository whose pointer was
 * signed by another key: mirrors pinned that key and would refuse everything signed by this one.
 */
export async function loadHistory(repo: Repo, key: KeyObject): Promise<{ history: History; pointer: Pointer | undefined }> {
  let history: History = { format: HISTORY_FORMAT, bundle: undefined, versions: [] };
  const hp = historyPath(repo);
  let text: string | undefined;
  try {
    text = await readFile(hp, 'utf8');
  } catch {
    /* a repository nothing was published into yet */
  }
  if (text !== undefined) {
    try {
      const o = JSON.parse(text) as History;
      if (o.format !== HISTORY_FORMAT || !Array.isArray(o.versions)) throw new Error('unknown format');
      history = { format: HISTORY_FORMAT, bundle: o.bundle, versions: o.versions };
    } catch (e) {
      throw new BookcrateError('FORMAT', `${hp} is damaged (${(e as Error).message})`, {
        hint: 'restore it from a backup; or delete it and the next publish rebuilds it from latest.json (older versions are then no longer tracked for retention)',
      });
    }
  }

  const pp = repo.path(repoPaths.pointer);
  let bytes: Buffer | undefined;
  try {
    bytes = await readFile(pp);
  } catch {
    /* no version published yet, or the pointer was deleted by hand */
  }
  if (!bytes) return { history, pointer: undefined };
  const mine = keyFingerprint(key);
  let signer: unknown;
  try {
    signer = (JSON.parse(bytes.toString('utf8')) as { sig?: { key?: unknown } }).sig?.key;
  } catch {
    /* verifyPointerFile names the problem */
  }
  if (typeof signer === 'string' && signer !== mine) {
    throw new BookcrateError('USAGE', `${pp} is signed by key ${formatFingerprint(signer)}, not by the key given (${formatFingerprint(mine)})`, {
      hint: 'publish with the key this repository was published with: mirrors pinned it and would refuse anything signed by another. To change keys, start a new repository and pin the new key on every mirror',
    });
  }
  const pointer = verifyPointerFile(bytes, createPublicKey(key), pp);
  if (history.bundle !== undefined && pointer.bundle !== history.bundle) {
    throw new BookcrateError('USAGE', `${pp} is for bundle "${pointer.bundle}" but the publisher's history in ${repo.state} is for "${history.bundle}"`, {
      hint: 'the repository folder was mixed up with another one; use one --repo folder per bundle',
    });
  }
  const known = history.versions.find((v) => v.version === pointer.version);
  if (!known || known.root !== pointer.root.sha256 || known.pruned) {
    // Published, but the run ended before the history was written (or the history was lost).
    const { root } = await repo.readRoot(pointer.root.sha256);
    const entry: HistoryEntry = { version: pointer.version, root: pointer.root.sha256, size: pointer.root.size, created: root.bundle.created, published: pointer.issued };
    history.versions = [...history.versions.filter((v) => v.version !== pointer.version), entry];
    history.bundle = pointer.bundle;
    await saveHistory(repo, history);
  }
  return { history, pointer };
}
