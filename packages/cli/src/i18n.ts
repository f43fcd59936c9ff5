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
    })[kind] ?? kind,
};

export function messages(lang: Lang): typeof en {
  return lang === 'zh' ? zh : en;
}
