/**
 * Messages for the people who run `verify` on a county library PC: Simplified Chinese when the
 * locale is Chinese (LANG=zh_CN.UTF-8), English otherwise; `--lang` overrides.
 */
export type Lang = 'en' | 'zh';

export function detectLang(flag?: string): Lang {
  const v = (flag ?? process.env.LC_ALL ?? process.env.LC_MESSAGES ?? process.env.LANG ?? '').toLowerCase();
  return v.startsWith('zh') ? 'zh' : 'en';
}

const en = {
  volumeOf: (i: number, n: number, title: string, version: number, set: string) => `Volume ${i} of ${n} of "${title}" (version ${version}, set ${set})`,
  keyTrusted: (fp: string) => `Signed by the trusted key ${fp}.`,
  keyFromVolume: (fp: string) => `Signed by key ${fp}, taken from the volume itself: this proves the disk is intact, not who made it. Compare the fingerprint with the one the national center published, or pass --pubkey center.pub.`,
  checked: (segs: number, files: number, size: string, secs: string, rate: string) => `Checked ${segs} segment(s), ${files} file(s), ${size} in ${secs} s (${rate}/s).`,
  checkedFast: (segs: number, files: number, secs: string) => `Fast check: signature, manifest and ${segs} segment size(s), ${files} file(s) listed, in ${secs} s. Run without --fast to check every byte.`,
  ok: 'Result: OK. Every byte matches the signed manifest.',
  okFast: 'Result: OK (fast check). Signature, manifest and segment sizes are right.',
  damaged: (n: number, files: number) => `Result: DAMAGED. ${n} problem(s), ${files} damaged or missing file(s):`,
  damagedNext: 'Import still loads every good file; the damaged ones are listed and can be fetched over the network later.',
  more: (n: number) => `… and ${n} more (use --json for the full list)`,
  problem: (kind: string) => kind,
  confirmKey: (fp: string) => `First import into this store. The disk is signed by the center key\n  ${fp}\nCompare it with the fingerprint the national center published. Trust this key? [y/N] `,
  importHead: (i: number, n: number, title: string, version: number) => `Imported volume ${i} of ${n} of "${title}" (version ${version})`,
  importCounts: (files: number, size: string, presentFiles: number, presentSize: string, secs: string, rate: string) =>
    `  ${files} file(s), ${size} copied in ${secs} s (${rate}/s); ${presentFiles} file(s), ${presentSize} were already in the store`,
  resumed: (n: number) => `  resumed: ${n} segment(s) finished by an earlier run were skipped`,
  notSelected: (n: number) => `  ${n} file(s) not selected (--only)`,
  importOk: 'Result: every file of this volume is in the store and matches its signature.',
  importDamaged: (n: number) => `Result: ${n} damaged file(s) were NOT imported (everything else was). They are recorded as missing and can be fetched over the network later:`,
  headerWarn: (n: number) => `  note: ${n} tar header(s) differ from the manifest; those files' content was checked and is fine`,
  awaiting: (list: string) => `  still awaited: volume(s) ${list}; import them in any order`,
  current: (dir: string) => `  this version is complete and now visible to readers: ${dir}`,
  statusNone: 'This store holds no bundle yet.',
  statusVersion: (title: string, id: string, version: number, state: string, current: boolean) => `${title} (${id}) version ${version}: ${state === 'complete' ? 'complete' : 'importing'}${current ? ', visible to readers' : ''}`,
  statusVolumes: (inList: string, awaited: string) => `  volumes in: ${inList || '-'}; awaited: ${awaited || 'none'}`,
  statusFromNetwork: '  received over the network (mirror)',
  statusFiles: (files: number, present: number, damaged: number, pending: number) => `  files: ${files} (present ${present}, damaged ${damaged}, awaiting a volume ${pending})`,
  statusKey: (fp: string) => `Trusted center key: ${fp}`,
  statusImports: 'Recent imports:',
  statusRounds: 'Recent mirror rounds:',
  statusRunning: 'running',
};

const zh: typeof en = {
  volumeOf: (i, n, title, version, set) => `「${title}」第 ${i} 盘，共 ${n} 盘（版本 ${version}，套号 ${set}）`,
  keyTrusted: (fp) => `签名密钥为已信任的 ${fp}。`,
  keyFromVolume: (fp) => `签名密钥 ${fp} 取自本盘自身：只能证明盘上内容完好，不能证明来源。请与国家中心公布的指纹核对，或使用 --pubkey center.pub。`,
  checked: (segs, files, size, secs, rate) => `已校验 ${segs} 个分段、${files} 个文件，共 ${size}，用时 ${secs} 秒（${rate}/秒）。`,
  checkedFast: (segs, files, secs) => `快速校验：签名、清单及 ${segs} 个分段的大小，清单列出 ${files} 个文件，用时 ${secs} 秒。不加 --fast 可逐字节校验。`,
  ok: '结论：完好。每一个字节都与签名清单一致。',
  okFast: '结论：完好（快速校验）。签名、清单与分段大小均正确。',
  damaged: (n, files) => `结论：有损坏。共 ${n} 处问题，${files} 个文件损坏或缺失：`,
  damagedNext: '导入时其余完好的文件照常导入；损坏的文件会被列出，之后可通过网络补齐。',
  more: (n) => `……另有 ${n} 处（使用 --json 查看完整列表）`,
  problem: (kind) =>
    ({
      'segment-missing': '分段缺失',
      'segment-size': '分段大小不符',
      header: '文件头损坏',
      padding: '填充区损坏',
      'file-hash': '文件内容损坏',
      'file-missing': '文件缺失',
      'segment-hash': '分段校验值不符',
      hash: '内容损坏',
      missing: '缺失',
    })[kind] ?? kind,
  confirmKey: (fp) => `这是本资源库的首次导入。本盘由以下中心密钥签名：\n  ${fp}\n请与国家中心公布的指纹核对。是否信任此密钥？[y/N] `,
  importHead: (i, n, title, version) => `已导入「${title}」（版本 ${version}）第 ${i} 盘，共 ${n} 盘`,
  importCounts: (files, size, presentFiles, presentSize, secs, rate) =>
    `  复制 ${files} 个文件，共 ${size}，用时 ${secs} 秒（${rate}/秒）；另有 ${presentFiles} 个文件（${presentSize}）库中已有，未重复复制`,
  resumed: (n) => `  续传：跳过了上次已完成的 ${n} 个分段`,
  notSelected: (n) => `  有 ${n} 个文件未选择（--only）`,
  importOk: '结论：本盘所有文件均已导入，且与签名一致。',
  importDamaged: (n) => `结论：有 ${n} 个损坏文件未导入（其余文件均已导入）。这些文件已记录为缺失，之后可通过网络补齐：`,
  headerWarn: (n) => `  提示：${n} 个 tar 文件头与清单不符；这些文件的内容已单独校验，完好`,
  awaiting: (list) => `  尚待导入：第 ${list} 盘，可按任意顺序导入`,
  current: (dir) => `  该版本已完整，读者现在可以访问：${dir}`,
  statusNone: '本资源库尚未导入任何资源包。',
  statusVersion: (title, id, version, state, current) => `${title}（${id}）版本 ${version}：${state === 'complete' ? '已完整' : '导入中'}${current ? '，读者可见' : ''}`,
  statusVolumes: (inList, awaited) => `  已导入的盘：${inList || '无'}；尚待导入：${awaited || '无'}`,
  statusFromNetwork: '  经网络同步获得（镜像）',
  statusFiles: (files, present, damaged, pending) => `  文件：共 ${files} 个（已有 ${present}，损坏 ${damaged}，待导入 ${pending}）`,
  statusKey: (fp) => `已信任的中心密钥：${fp}`,
  statusImports: '最近的导入：',
  statusRounds: '最近的同步：',
  statusRunning: '进行中',
};

export function messages(lang: Lang): typeof en {
  return lang === 'zh' ? zh : en;
}
