/**
 * The JSON Schemas of docs/schemas/ against what the real CLI writes: a set of two disks from
 * `bookcrate pack` and a repository from `bookcrate publish` of the same tree, every JSON document
 * and every line of every manifest part, walked from the signed roots (index parts by the PartRef
 * schema, leaves by their tree's entry schema). The format package's schemas.test.ts holds the
 * schemas to the encoders and decoders one document at a time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { repoPaths } from '@bookcrate/format';
import { buildTree, tempDir } from '../../../fixtures/tree.js';
import { loadSchemas, type SchemaName } from '../../format/src/schema-testkit.js';
import { run } from './testkit.js';

const MiB = 1024 * 1024;
const schemas = loadSchemas();
let work: string;
let disks: string[];
let repo: string;

interface Tree { depth: number; count: number; parts: { sha256: string }[] }
interface Walked { entries: number; indexLines: number; lines: Record<string, unknown>[] }

/**
 * Every line of a tree's parts, checked: index parts' lines against part-ref, leaves' against
 * `leaf`. Returns the leaf lines (the tests look for the cases they meant to produce).
 */
async function walk(tree: Tree, load: (sha: string) => Promise<Buffer>, leaf: SchemaName, where: string): Promise<Walked> {
  const walked: Walked = { entries: 0, indexLines: 0, lines: [] };
  const visit = async (refs: { sha256: string }[], depth: number): Promise<void> => {
    for (const ref of refs) {
      const text = (await load(ref.sha256)).toString('utf8');
      const lines = text.length === 0 ? [] : text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const schema: SchemaName = depth > 1 ? 'part-ref' : leaf;
      for (const line of lines) expect(schemas.errors(schema, line), `${where}, part ${ref.sha256}: ${JSON.stringify(line)}`).toEqual([]);
      if (depth > 1) {
        walked.indexLines += lines.length;
        await visit(lines as { sha256: string }[], depth - 1);
      } else {
        walked.entries += lines.length;
        walked.lines.push(...lines);
      }
    }
  };
  await visit(tree.parts, tree.depth);
  expect(walked.entries, `${where}: the tree's count`).toBe(tree.count);
  return walked;
}

const readJson = async (path: string): Promise<Record<string, any>> => JSON.parse(await readFile(path, 'utf8')); // eslint-disable-line @typescript-eslint/no-explicit-any

beforeAll(async () => {
  work = await tempDir('bookcrate-schemas-e2e-');
  const src = join(work, 'ndlp-2026');
  // 5,000 photos: a files tree of more than 256 leaf parts, so it has index parts; a 14 MiB
  // lecture split over 4 MiB segments and several 16 MB disks, and chunked in the repository; an
  // empty folder; a file at the top, outside any collection folder.
  await buildTree(src, {
    学术讲座: { '长讲座 第1集.mp4': 14 * MiB + 4321, 空目录: {} },
    老照片: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`照片${String(i).padStart(4, '0')}.jpg`, 100 + (i % 50)])),
    政府公开信息: { '2026年工作报告.pdf': 300_000, '空.txt': '' },
    '说明.txt': 'files at the top of a bare folder are a collection whose id and path are ""\n',
  });
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  const key = join(work, 'center.key');
  const out = join(work, 'disks');
  const packed = await run(['pack', src, '--key', key, '--out', out, '--disk-size', '16MB', '--segment-size', '4MiB', '--no-verify']);
  expect(packed.code, packed.stderr).toBe(0);
  disks = (await readdir(out)).filter((n) => n.includes('-vol')).sort().map((n) => join(out, n));
  expect(disks.length).toBeGreaterThanOrEqual(2);
  repo = join(work, 'repo');
  const published = await run(['publish', src, '--repo', repo, '--key', key]);
  expect(published.code, published.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the schemas hold for what pack and publish write', () => {
  it('every disk: volume.json, root.json, root.sig and every line of the files, resources and members trees', async () => {
    let splitParts = 0;
    for (const [i, disk] of disks.entries()) {
      const dir = join(disk, 'bookcrate');
      const volume = await readJson(join(dir, 'volume.json'));
      expect(schemas.errors('volume', volume)).toEqual([]);
      expect(volume.volume).toBe(i + 1);
      const root = await readJson(join(dir, 'root.json'));
      expect(schemas.errors('root', root)).toEqual([]);
      expect(root.layout.volumes).toHaveLength(disks.length);
      expect(root.collections.map((c: { path: string }) => c.path)).toContain('');
      expect(schemas.errors('signature', await readJson(join(dir, 'root.sig')))).toEqual([]);
      const load = (sha: string) => readFile(join(dir, 'parts', `${sha}.jsonl`));
      const files = await walk(root.files, load, 'file-entry', `${disk} files`);
      await walk(root.resources, load, 'resource-entry', `${disk} resources`);
      const members = await walk(root.layout.members, load, 'member-entry', `${disk} members`);
      expect(root.files.depth, 'the files tree has index parts').toBeGreaterThan(1);
      expect(files.indexLines).toBeGreaterThan(256);
      expect(files.lines.some((l) => l.type === 'dir')).toBe(true);
      splitParts = members.lines.filter((m) => m.at !== undefined).length;
    }
    expect(splitParts, 'the lecture is split into parts with at').toBeGreaterThanOrEqual(4);
  });

  it('the repository: latest.json and its pointer, the roots and their signatures, and every line of the files, resources and chunks trees', async () => {
    const latest = await readJson(join(repo, repoPaths.pointer));
    expect(schemas.errors('pointer-file', latest)).toEqual([]);
    const pointer = JSON.parse(latest.pointer as string) as { root: { sha256: string } };
    expect(schemas.errors('pointer', pointer)).toEqual([]);
    const root = await readJson(join(repo, repoPaths.root(pointer.root.sha256)));
    expect(schemas.errors('root', root)).toEqual([]);
    expect(root.layout).toBeUndefined();
    expect(schemas.errors('signature', await readJson(join(repo, repoPaths.rootSig(pointer.root.sha256))))).toEqual([]);
    const load = (sha: string) => readFile(join(repo, repoPaths.part(sha)));
    await walk(root.files, load, 'file-entry', 'repository files');
    await walk(root.resources, load, 'resource-entry', 'repository resources');
    const chunks = await walk(root.chunks, load, 'chunk-entry', 'repository chunks');
    expect(chunks.lines.map((c) => c.path)).toEqual(['学术讲座/长讲座 第1集.mp4']);
  });

  it('a disk\'s root with a flipped field is refused by the schema, as by verify', async () => {
    const root = await readJson(join(disks[0]!, 'bookcrate', 'root.json'));
    root.layout.members.depth = 0;
    expect(schemas.errors('root', root).join('\n')).toMatch(/depth/);
  });
});
