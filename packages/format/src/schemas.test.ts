/**
 * The JSON Schemas of docs/schemas/ against the format's own encoders and decoders: every document
 * the writers produce is valid; every malformed document of a table the decoders refuse, the schemas
 * refuse too; and the schema's bundle-path pattern says yes exactly where `bundlePathProblem` does
 * (for NFC strings, which a pattern cannot check). The same schemas are checked against a real
 * packed set and a real repository in packages/cli/src/schemas.e2e.test.ts.
 */
import { createHash, createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../fixtures/tree.js';
import {
  ChunkListBuilder, bundlePathProblem, decodeChunkEntry, decodeFileEntry, decodeMemberEntry, decodeResourceEntry, decodeRoot,
  decodeVolumeDoc, encodeChunkEntry, encodeFileEntry, encodeMemberEntry, encodePointerFile, encodeResourceEntry, encodeRoot,
  encodeVolumeDoc, generateSigningKey, isBookcrateError, parseRecipe, signRoot, verifyPointerFile, verifyRootSignature, type Root,
} from './index.js';
import { loadSchemas, type SchemaName } from './schema-testkit.js';

const schemas = loadSchemas();
const keys = generateSigningKey();
const key = createPrivateKey(keys.privateKeyPem);
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const part = (n: number, first: string) => ({ sha256: sha(`part ${n}`), size: 100 + n, count: 16, first });

const diskRoot: Root = {
  format: 'bookcrate/1',
  bundle: { id: 'ndlp-county-2026q4', version: 3, title: '国家数字图书馆县级资源包', created: '2026-01-01T00:00:00.000Z' },
  totals: { files: 3, dirs: 1, bytes: 12_000_000, resources: 2 },
  collections: [{ id: 'opera', title: '地方戏专题视频', path: '地方戏专题视频', files: 3, bytes: 12_000_000 }],
  files: { depth: 2, count: 4, parts: [part(1, '地方戏专题视频/empty')] },
  resources: { depth: 1, count: 2, parts: [part(2, 'CDOI:10.9999/opera.0001')] },
  layout: {
    set: 'b085c9bbaaf07eaf', segmentSize: 4 * 1024 * 1024,
    volumes: [
      { index: 1, segments: [{ name: 'v01-s000001.tar', size: 4_194_304, xxh64: 'eca8cd0f7122ef53' }] },
      { index: 2, segments: [{ name: 'v02-s000002.tar', size: 1_000_448, xxh64: '0000000000000000' }] },
    ],
    members: { depth: 1, count: 0, parts: [] },
  },
};
const { layout: _layout, ...contentOnly } = diskRoot;
const networkRoot: Root = { ...contentOnly, chunks: { depth: 1, count: 1, parts: [part(3, '地方戏专题视频/川剧/变脸.mp4')] } };
const json = (bytes: Buffer | string): unknown => JSON.parse(bytes.toString());
const valid = (name: SchemaName, value: unknown) => expect(schemas.errors(name, value), JSON.stringify(value).slice(0, 300)).toEqual([]);
const invalid = (name: SchemaName, value: unknown) => expect(schemas.errors(name, value).length, JSON.stringify(value).slice(0, 300)).toBeGreaterThan(0);

describe('what the writers write is valid', () => {
  it('root.json, both forms, and root.sig', () => {
    valid('root', json(encodeRoot(diskRoot)));
    valid('root', json(encodeRoot(networkRoot)));
    // a bare folder's top-level files: a collection whose id and path are ""
    valid('root', json(encodeRoot({ ...diskRoot, collections: [...diskRoot.collections, { id: '', title: 'src', path: '', files: 1, bytes: 3 }] })));
    invalid('root', json(encodeRoot({ ...diskRoot, collections: [{ id: 'x', title: 'x', path: 'a/b', files: 1, bytes: 3 }] })));
    valid('root', { ...json(encodeRoot(diskRoot)) as object, addedLater: { by: 'a compatible change' } }); // readers ignore unknown keys
    const sig = json(signRoot(encodeRoot(diskRoot), key));
    valid('signature', sig);
  });

  it('volume.json', () => {
    valid('volume', json(encodeVolumeDoc({ format: 'bookcrate/1', set: 'b085c9bbaaf07eaf', volume: 2, volumes: 2, root: sha('root') })));
  });

  it('file, resource and member entries, and index lines', () => {
    valid('file-entry', json(encodeFileEntry({ path: '地方戏专题视频/empty', type: 'dir', size: 0, mtime: 1767323045 })));
    valid('file-entry', json(encodeFileEntry({
      path: '地方戏专题视频/川剧/变脸 (1).txt', type: 'file', size: 13, mtime: 8589934591, sha256: sha('x'), xxh64: 'eca8cd0f7122ef53', resource: 'CDOI:10.9999/opera.0001',
    })));
    valid('file-entry', json(encodeFileEntry({ path: 'a/.hidden/..x/…/\u2028 line separator/😀', type: 'file', size: 0, mtime: 0, sha256: sha(''), xxh64: 'ef46db3751d8e999' })));
    valid('resource-entry', json(encodeResourceEntry({ id: 'CDOI:10.9999/opera.0001', collection: 'opera', title: '川剧 变脸', creator: '四川省图书馆', type: 'video', language: 'zh', date: '', description: '' })));
    valid('resource-entry', json(encodeResourceEntry({ id: 'lectures/big.mp4', collection: 'lectures', title: '' })));
    valid('member-entry', json(encodeMemberEntry({ path: '学术讲座/big.mp4', segment: 1, offset: 3584, length: 4188160, at: 0 })));
    valid('member-entry', json(encodeMemberEntry({ path: '学术讲座/small.pdf', segment: 2, offset: 0, length: 0 })));
    valid('part-ref', part(7, '学术讲座/big.mp4'));
  });

  it('chunk lists of one, two and three chunks a line modulo three, and their averages', () => {
    const MiB = 1024 * 1024;
    const bytes = Buffer.alloc(9 * MiB);
    for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE((i * 2654435761) >>> 0, i);
    const builder = new ChunkListBuilder(bytes.length);
    builder.update(bytes);
    const chunks = builder.finish();
    expect(chunks.length).toBeGreaterThan(3);
    for (const n of [1, 2, 3, 4, chunks.length]) {
      const some = chunks.slice(0, n);
      // the schema sees the encoding, not the sum: a size of 8 MiB with fewer chunks is fine for it
      const size = Math.max(8 * MiB, some.reduce((s, c) => s + c.length, 0));
      valid('chunk-entry', json(encodeChunkEntry({ path: '学术讲座/big.mp4', sha256: sha('big'), size, avg: 65536, chunks: some })));
    }
    const line = encodeChunkEntry({ path: 'big.mp4', sha256: sha('big'), size: bytes.length, avg: builder.avg, chunks });
    expect(decodeChunkEntry(line, 'test').chunks.length).toBe(chunks.length);
    valid('chunk-entry', json(line));
    for (const [size, avg] of [[2 ** 30 - 1, 65536], [2 ** 30, 524288], [2 ** 33, 4194304], [2 ** 36, 33554432], [2 ** 40, 33554432]]) {
      valid('chunk-entry', { path: 'v.mp4', sha256: sha('v'), size, avg, chunks: 'AAAAAQ' + 'A'.repeat(21) + '=' });
      invalid('chunk-entry', { path: 'v.mp4', sha256: sha('v'), size, avg: avg === 65536 ? 524288 : 65536, chunks: 'AAAAAQ' + 'A'.repeat(21) + '=' });
    }
  });

  it('latest.json and the pointer inside it', () => {
    const file = encodePointerFile({
      format: 'bookcrate-repo/1', bundle: 'ndlp-2026', version: 3, root: { sha256: sha('root'), size: 2841 },
      issued: '2026-11-29T06:00:00.000Z', expires: '2026-12-13T06:00:00.000Z',
    }, key);
    const outer = json(file) as { pointer: string };
    valid('pointer-file', outer);
    valid('pointer', JSON.parse(outer.pointer));
  });

  it('the example recipe, which the recipe parser takes too', () => {
    const path = fileURLToPath(new URL('../../../manifests/example.recipe.json', import.meta.url));
    const text = readFileSync(path, 'utf8');
    expect(schemas.recipeErrors(JSON.parse(text))).toEqual([]);
    expect(parseRecipe(text, path).collections.length).toBe(5);
  });
});

/** Each case: a document the decoder refuses (checked), which the schema must refuse too. */
const refused = (name: SchemaName, decode: (text: string) => unknown, cases: [string, unknown][]) => {
  for (const [what, value] of cases) {
    it(`${name}: ${what}`, () => {
      let thrown: unknown;
      try {
        decode(JSON.stringify(value));
      } catch (e) {
        thrown = e;
      }
      expect(isBookcrateError(thrown), `the decoder takes it: ${what}`).toBe(true);
      invalid(name, value);
    });
  }
};

describe('what the decoders refuse, the schemas refuse', () => {
  const root = json(encodeRoot(diskRoot)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const withRoot = (change: (r: Record<string, any>) => void) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const r = structuredClone(root);
    change(r);
    return r;
  };
  refused('root', (t) => decodeRoot(Buffer.from(t)), [
    ['another format', withRoot((r) => { r.format = 'bookcrate/2'; })],
    ['no bundle title', withRoot((r) => { delete r.bundle.title; })],
    ['a version that is text', withRoot((r) => { r.bundle.version = '3'; })],
    ['negative totals', withRoot((r) => { r.totals.bytes = -1; })],
    ['a fractional count', withRoot((r) => { r.totals.files = 1.5; })],
    ['a collection without a path', withRoot((r) => { delete r.collections[0].path; })],
    ['a tree of depth 9', withRoot((r) => { r.files.depth = 9; })],
    ['a part with a short hash', withRoot((r) => { r.files.parts[0].sha256 = 'abc'; })],
    ['a part with an upper-case hash', withRoot((r) => { r.files.parts[0].sha256 = r.files.parts[0].sha256.toUpperCase(); })],
    ['a part without first', withRoot((r) => { delete r.resources.parts[0].first; })],
    ['a segment name with a slash', withRoot((r) => { r.layout.volumes[0].segments[0].name = '../x.tar'; })],
    ['a segment xxh64 of 15 digits', withRoot((r) => { r.layout.volumes[0].segments[0].xxh64 = 'eca8cd0f7122ef5'; })],
    ['no members tree', withRoot((r) => { delete r.layout.members; })],
    ['a root that is an array', [root]],
  ]);
  refused('volume', (t) => decodeVolumeDoc(Buffer.from(t)), [
    ['another format', { format: 'bookcrate/0', set: 'b085c9bbaaf07eaf', volume: 1, volumes: 1, root: sha('r') }],
    ['a volume number as text', { format: 'bookcrate/1', set: 'b085c9bbaaf07eaf', volume: '1', volumes: 1, root: sha('r') }],
    ['no root', { format: 'bookcrate/1', set: 'b085c9bbaaf07eaf', volume: 1, volumes: 1 }],
  ]);
  const sig = json(signRoot(encodeRoot(diskRoot), key)) as Record<string, unknown>;
  refused('signature', (t) => verifyRootSignature(encodeRoot(diskRoot), Buffer.from(t), key), [
    ['another algorithm', { ...sig, alg: 'rsa' }],
    ['no signature', { ...sig, signature: undefined }],
    ['a key that is not a fingerprint', { ...sig, key: 'center' }],
  ]);
  const file = { path: 'a/b.txt', type: 'file', size: 1, mtime: 0, sha256: sha('b'), xxh64: '0123456789abcdef' };
  refused('file-entry', (t) => decodeFileEntry(t, 'test'), [
    ['an absolute path', { ...file, path: '/etc/passwd' }],
    ['a path up and out', { ...file, path: 'a/../../b' }],
    ['a "." component', { ...file, path: 'a/./b' }],
    ['an empty component', { ...file, path: 'a//b' }],
    ['a trailing slash', { ...file, path: 'a/b/' }],
    ['a drive letter', { ...file, path: 'C:/x' }],
    ['a backslash', { ...file, path: 'a\\b' }],
    ['a control character', { ...file, path: 'a\u0007b' }],
    ['a DEL', { ...file, path: 'a\u007fb' }],
    ['a lone surrogate', { ...file, path: 'a\ud800b' }],
    ['an empty path', { ...file, path: '' }],
    ['a path of 4097 characters', { ...file, path: 'a'.repeat(4097) }],
    ['a link', { ...file, type: 'symlink' }],
    ['a negative size', { ...file, size: -1 }],
    ['a size beyond 2^53', { ...file, size: 2 ** 54 }],
    ['a fractional mtime', { ...file, mtime: 0.5 }],
    ['a file without sha256', { ...file, sha256: undefined }],
    ['an xxh64 in upper case', { ...file, xxh64: '0123456789ABCDEF' }],
    ['a directory with a size', { path: 'a/empty', type: 'dir', size: 5, mtime: 0 }],
    ['a resource that is a number', { ...file, resource: 7 }],
  ]);
  refused('resource-entry', (t) => decodeResourceEntry(t, 'test'), [
    ['no id', { collection: 'c', title: 't' }],
    ['an empty id', { id: '', collection: 'c', title: 't' }],
    ['no title', { id: 'x', collection: 'c' }],
    ['a creator that is a list', { id: 'x', collection: 'c', title: 't', creator: ['a', 'b'] }],
    ['a description of 70,000 characters', { id: 'x', collection: 'c', title: 't', description: 'd'.repeat(70_000) }],
  ]);
  refused('member-entry', (t) => decodeMemberEntry(t, 'test'), [
    ['segment 0', { path: 'a', segment: 0, offset: 0, length: 1 }],
    ['an offset off the 512-byte grid', { path: 'a', segment: 1, offset: 100, length: 1 }],
    ['a negative length', { path: 'a', segment: 1, offset: 0, length: -1 }],
    ['an at that is text', { path: 'a', segment: 1, offset: 0, length: 1, at: '0' }],
    ['a path with ..', { path: '../a', segment: 1, offset: 0, length: 1 }],
  ]);
  const chunk = { path: 'big.mp4', sha256: sha('big'), size: 8 * 1024 * 1024, avg: 65536, chunks: 'AAAAAQ' + 'A'.repeat(21) + '=' };
  refused('chunk-entry', (t) => decodeChunkEntry(t, 'test'), [
    ['an average that does not match the size', { ...chunk, avg: 524288 }],
    ['a list cut inside a chunk', { ...chunk, chunks: 'AAAAAQAAAA==' }],
    ['no list', { ...chunk, chunks: undefined }],
    ['a hash of 63 digits', { ...chunk, sha256: sha('big').slice(1) }],
    ['a path with a backslash', { ...chunk, path: 'a\\big.mp4' }],
  ]);
  const pointer = { format: 'bookcrate-repo/1', bundle: 'b', version: 1, root: { sha256: sha('r'), size: 10 }, issued: '2026-11-29T06:00:00.000Z', expires: '2026-12-13T06:00:00Z' };
  // The pointer's fields are checked after its signature: each case is signed for real (pointerFileOf).
  refused('pointer', (t) => verifyPointerFile(pointerFileOf(JSON.parse(t)), key, 'test'), [
    ['another repository format', { ...pointer, format: 'bookcrate-repo/2' }],
    ['version 0', { ...pointer, version: 0 }],
    ['a root of size 0', { ...pointer, root: { sha256: sha('r'), size: 0 } }],
    ['an expiry without a zone', { ...pointer, expires: '2026-12-13T06:00:00' }],
    ['an issue date that is a number', { ...pointer, issued: 1764396000000 }],
  ]);
});

describe('the bundle-path pattern and bundlePathProblem agree', () => {
  const ALPHABET = ['a', 'b', '/', '/', '.', '.', ' ', '\\', ':', 'C', '\u0000', '\u001f', '\u007f', '\u2028', '中', '\u00e9', '😀', '\ud800', '\udc00'];
  it('on 20,000 seeded strings (NFC ones: the pattern cannot normalise)', () => {
    const random = seededRandom(7);
    let checked = 0;
    let good = 0;
    for (let i = 0; i < 20_000; i++) {
      const length = 1 + Math.floor(random() * 12);
      let path = '';
      for (let j = 0; j < length; j++) path += ALPHABET[Math.floor(random() * ALPHABET.length)];
      if (path.normalize('NFC') !== path && !/[\ud800-\udfff]/.test(path)) continue;
      const problem = bundlePathProblem(path);
      // a lone surrogate makes normalize() leave the string as it is, so those are checked too
      const errors = schemas.errors('member-entry', { path, segment: 1, offset: 0, length: 0 });
      expect(errors.length === 0, `${JSON.stringify(path)}: ${problem ?? 'fine'} / ${errors.join('; ') || 'valid'}`).toBe(problem === undefined);
      checked++;
      if (!problem) good++;
    }
    expect(checked).toBeGreaterThan(15_000);
    expect(good).toBeGreaterThan(500); // both answers are exercised
  });
});

/** A real latest.json around a pointer text of any content, signed with the test key. */
function pointerFileOf(p: unknown): Buffer {
  const text = JSON.stringify(p);
  const digest = sha(text);
  const signature = sign(null, Buffer.from(`bookcrate/1 pointer sha256:${digest}`), key).toString('base64');
  const fingerprint = (json(signRoot(Buffer.from('x'), key)) as { key: string }).key;
  return Buffer.from(JSON.stringify({ pointer: text, sig: { alg: 'ed25519', key: fingerprint, digest, signature } }));
}
