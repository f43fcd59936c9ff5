/**
 * Fuzzing the format's decoders: every function that reads bytes a disk, an upstream or a center's
 * catalog file hands us gets thousands of seeded variants of a valid input (characters flipped,
 * cut, repeated; JSON values replaced by values of other types, keys removed or added) and must
 * either return or throw a BookcrateError: another error (a TypeError from `null.path`, a
 * RangeError from a Buffer) is the CLI's exit 70, "a bug", where the librarian should have been
 * told the disk or the upstream is damaged. (The end-to-end fuzz tests are
 * packages/importer/src/hostile-volume.test.ts and packages/cli/src/hostile-upstream.e2e.test.ts.)
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../fixtures/tree.js';
import {
  averageChunkSize, decodeCatalogText, decodeChunkEntry, decodeFileEntry, decodeMemberEntry, decodeResourceEntry, decodeRoot,
  decodeVolumeDoc, encodeChunkEntry, encodeFileEntry, encodeMemberEntry, encodePointerFile, encodeResourceEntry, encodeRoot,
  encodeVolumeDoc, isBookcrateError, parseCsv, resourceSpecFrom, parseDuration, parseListen, parseRate, parseRecipe, parseSize, signRoot,
  verifyPointerFile, verifyRootSignature, assertTreeRef, type Root,
} from './index.js';

const ROUNDS = Number(process.env.FUZZ_ITERATIONS ?? 0) * 20 || 2000;
const FIRST_SEED = Number(process.env.FUZZ_SEED ?? 1);

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;

const ODD_VALUES = (): unknown[] => [
  null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, '', 'x', '-1', 'NaN', '../../etc/passwd', '/abs', 'C:\\x', '\u0000',
  '\ud800', 'a'.repeat(70_000), [], [1, 2], {}, { length: -1 }, { toString: 'x' }, [null], ['../x'],
];

/** A JSON text with one value somewhere in it replaced, a key removed, or a key added. */
function mutateJson(r: Rand, text: string): string {
  let doc: unknown;
  try { doc = JSON.parse(text); } catch { return text; }
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, at: (string | number)[]): void => {
    paths.push(at);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...at, i]));
    else if (v && typeof v === 'object') for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], [...at, k]);
  };
  walk(doc, []);
  const at = pick(r, paths);
  const how = int(r, 3);
  if (at.length === 0) return JSON.stringify(pick(r, ODD_VALUES()));
  const parent = at.slice(0, -1).reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], doc) as Record<string | number, unknown>;
  const last = at[at.length - 1]!;
  if (how === 0) parent[last] = pick(r, ODD_VALUES());
  else if (how === 1) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else if (!Array.isArray(parent)) parent[pick(r, ['__proto__', 'constructor', 'extra', 'length'])] = pick(r, ODD_VALUES());
  else parent.push(pick(r, ODD_VALUES()));
  return JSON.stringify(doc);
}

/** A text with characters flipped, a stretch cut or repeated, or odd characters put in. */
function mutateText(r: Rand, text: string): string {
  const at = int(r, text.length + 1);
  switch (int(r, 5)) {
    case 0: return text.slice(0, at) + String.fromCharCode(int(r, 0x3000)) + text.slice(at + 1);
    case 1: return text.slice(0, at);
    case 2: return text.slice(0, at) + text.slice(at + 1 + int(r, 20));
    case 3: return text.slice(0, at) + text.slice(at, at + int(r, 40)).repeat(1 + int(r, 4)) + text.slice(at);
    default: return text.slice(0, at) + pick(r, ['"', '\\', '{', '}', '[', ']', ',', ':', '\n', '\r', '\u2028', '\ufeff', 'null', '1e999']) + text.slice(at);
  }
}

function mutate(r: Rand, text: string): string {
  let out = text;
  for (let n = 1 + int(r, 3); n > 0; n--) out = r() < 0.6 ? mutateJson(r, out) : mutateText(r, out);
  return out;
}

/** Runs `decode` on `ROUNDS` variants of `valid`; returns how many it accepted, failing on any error that is not bookcrate's own. */
function fuzz(name: string, valid: string, decode: (text: string) => unknown, seedOffset: number): number {
  let accepted = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const seed = FIRST_SEED + seedOffset * 1_000_000 + i;
    const input = mutate(seededRandom(seed), valid);
    try {
      decode(input);
      accepted++;
    } catch (e) {
      if (!isBookcrateError(e) || e.code === 'INTERNAL') {
        throw new Error(`${name}, seed ${seed}: ${(e as Error)?.stack ?? String(e)}\ninput: ${input.slice(0, 500)}`);
      }
    }
  }
  return accepted;
}

const SHA = 'ab'.repeat(32);
const keys = generateKeyPairSync('ed25519');
const tree = { depth: 1, count: 2, parts: [{ sha256: SHA, size: 300, count: 2, first: '国图公开课/第1讲.mp4' }] };
const root: Root = {
  format: 'bookcrate/1',
  bundle: { id: 'ndlp-2026', version: 3, title: '县级资源包', created: '2026-11-29T06:00:00.000Z' },
  totals: { files: 2, dirs: 1, bytes: 12345, resources: 1 },
  collections: [{ id: 'open', title: '国图公开课', path: '国图公开课', files: 2, bytes: 12345 }],
  files: tree,
  resources: tree,
  layout: { set: 'e191704bc34ec59f', segmentSize: 4 << 20, volumes: [{ index: 1, segments: [{ name: 'v01-s000001.tar', size: 4 << 20, xxh64: '0123456789abcdef' }] }], members: tree },
  chunks: tree,
};
const rootBytes = encodeRoot(root);

describe(`the format's decoders on hostile input (${ROUNDS} seeded variants each)`, () => {
  it('manifest lines: files, resources, members, chunk lists', () => {
    const file = encodeFileEntry({ path: '国图公开课/第1讲.mp4', type: 'file', size: 9_437_261, mtime: 1_764_374_400, sha256: SHA, xxh64: '0123456789abcdef', resource: 'cdoi:1' });
    const dir = encodeFileEntry({ path: '老照片/待整理', type: 'dir', size: 0, mtime: 1_764_374_400 });
    const resource = encodeResourceEntry({ id: 'cdoi:1', collection: 'open', title: '中国古代书籍史', creator: '国家图书馆', type: 'video', language: 'zh', date: '2026', description: '第一讲' });
    const member = encodeMemberEntry({ path: '国图公开课/第1讲.mp4', segment: 2, offset: 1536, length: 4_000_000, at: 4_194_304 });
    const size = 300_000;
    const chunk = encodeChunkEntry({ path: '国图公开课/第1讲.mp4', sha256: SHA, size, avg: averageChunkSize(size), chunks: [{ offset: 0, length: 100_000, hash: 'cd'.repeat(16) }, { offset: 100_000, length: 200_000, hash: 'ef'.repeat(16) }] });
    // the valid lines are accepted as they are
    for (const [line, decode] of [[file, decodeFileEntry], [dir, decodeFileEntry], [resource, decodeResourceEntry], [member, decodeMemberEntry], [chunk, decodeChunkEntry]] as const) {
      expect(() => decode(line, 'part')).not.toThrow();
    }
    expect(fuzz('decodeFileEntry', file, (t) => decodeFileEntry(t, 'part'), 1)).toBeGreaterThan(0);
    fuzz('decodeFileEntry (dir)', dir, (t) => decodeFileEntry(t, 'part'), 2);
    fuzz('decodeResourceEntry', resource, (t) => decodeResourceEntry(t, 'part'), 3);
    fuzz('decodeMemberEntry', member, (t) => decodeMemberEntry(t, 'part'), 4);
    fuzz('decodeChunkEntry', chunk, (t) => decodeChunkEntry(t, 'part'), 5);
  });

  it('root.json, volume.json and tree references', () => {
    expect(decodeRoot(rootBytes).bundle.version).toBe(3);
    fuzz('decodeRoot', rootBytes.toString('utf8'), (t) => decodeRoot(Buffer.from(t)), 6);
    const volume = encodeVolumeDoc({ format: 'bookcrate/1', set: 'e191704bc34ec59f', volume: 1, volumes: 2, root: SHA }).toString('utf8');
    fuzz('decodeVolumeDoc', volume, (t) => decodeVolumeDoc(Buffer.from(t)), 7);
    fuzz('assertTreeRef', JSON.stringify(tree), (t) => {
      let v: unknown;
      try { v = JSON.parse(t); } catch { return; }
      assertTreeRef(v, 'files');
    }, 8);
  });

  it('signatures: root.sig and the pointer file', () => {
    const sig = signRoot(rootBytes, keys.privateKey);
    expect(() => verifyRootSignature(rootBytes, sig, keys.publicKey)).not.toThrow();
    // a mutated signature document is never accepted unless it still says the same
    fuzz('verifyRootSignature', sig.toString('utf8'), (t) => verifyRootSignature(rootBytes, Buffer.from(t), keys.publicKey), 9);
    const pointer = encodePointerFile({ format: 'bookcrate-repo/1', bundle: 'ndlp-2026', version: 3, root: { sha256: SHA, size: 2841 }, issued: '2026-11-29T06:00:00.000Z', expires: '2026-12-13T06:00:00.000Z' }, keys.privateKey);
    expect(verifyPointerFile(pointer, keys.publicKey, 'latest.json').version).toBe(3);
    fuzz('verifyPointerFile', pointer.toString('utf8'), (t) => verifyPointerFile(Buffer.from(t), keys.publicKey, 'latest.json'), 10);
  });

  it('what the center types or exports: recipes, catalogs, sizes and flags', () => {
    const recipe = JSON.stringify({
      bundle: { id: 'ndlp-2026q4', title: '国家数字图书馆推广工程 2026 年第四季度', version: 4 },
      collections: [
        { id: 'open-courses', title: '国图公开课', source: 'src/open', metadata: 'open.csv', metadataEncoding: 'gb18030', type: 'video', language: 'zh' },
        { id: 'photos', title: '老照片', source: 'src/photos', path: '老照片' },
      ],
    });
    expect(parseRecipe(recipe, 'recipe.json').collections.length).toBe(2);
    fuzz('parseRecipe', recipe, (t) => parseRecipe(t, 'recipe.json'), 11);
    const csv = 'id,title,creator,files\ncdoi:1,"中国古代书籍史, 第一讲",国家图书馆,第1讲\ncdoi:2,敦煌遗书,"王""某",第2讲;讲义.pdf\n';
    fuzz('parseCsv', csv, (t) => parseCsv(t, 'open.csv'), 12);
    // a JSON Lines catalog's record, as pack reads each line (packages/pack/src/catalog.ts)
    const record = JSON.stringify({ id: 'cdoi:1', title: '中国古代书籍史', creator: '国家图书馆', files: ['第1讲', '讲义.pdf'], date: '2026' });
    fuzz('resourceSpecFrom', record, (t) => {
      let o: unknown;
      try { o = JSON.parse(t); } catch { return; }
      resourceSpecFrom(o as Record<string, unknown>, 'open.jsonl record 1');
    }, 19);
    fuzz('decodeCatalogText', csv, (t) => decodeCatalogText(Buffer.from(t, 'latin1'), 'open.csv'), 13);
    fuzz('decodeCatalogText (gb18030)', csv, (t) => decodeCatalogText(Buffer.from(t, 'latin1'), 'open.csv', 'gb18030'), 14);
    fuzz('parseSize', '"3.6TiB"', (t) => parseSize(t), 15);
    fuzz('parseDuration', '"7d"', (t) => parseDuration(t, '--gc-after'), 16);
    fuzz('parseRate', '"400KB/s"', (t) => parseRate(t, '--bwlimit'), 17);
    fuzz('parseListen', '"127.0.0.1:8080"', (t) => parseListen(t), 18);
  });
});
