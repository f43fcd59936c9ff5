import { formatFingerprint, formatSize, type Root } from '@bookcrate/format';

/**
 * The short note on every volume, for the librarian who plugs the disk in: Chinese first, UTF-8 with
 * a BOM, CRLF. `onThisDisk`: the ids of the collections with files on this volume (the plan's).
 */
export function volumeReadme(root: Root, volume: number, fingerprint: string, onThisDisk: string[]): string {
  const n = root.layout!.volumes.length;
  const fp = formatFingerprint(fingerprint);
  const titles = root.collections.filter((c) => onThisDisk.includes(c.id)).map((c) => c.title || c.id).filter(Boolean);
  const cols = titles.join('、');
  const text = [
    `${root.bundle.title}`,
    `==============================`,
    '',
    `【中文】`,
    `这是国家数字图书馆资源包「${root.bundle.title}」（版本 ${root.bundle.version}）的第 ${volume} 盘，共 ${n} 盘。`,
    `本盘内容：${cols || '见清单'}；全套共 ${root.totals.files} 个文件，${formatSize(root.totals.bytes)}。`,
    '',
    `请不要修改、删除或重命名本盘上的任何文件。`,
    `1. 校验本盘（检查每一个字节是否完好）：`,
    `     bookcrate verify <本盘所在位置>`,
    `2. 导入本馆服务器（会先校验，损坏的文件会单独列出，其余照常导入）：`,
    `     bookcrate import <本盘所在位置> --store <本馆资源库目录>`,
    `   多盘可按任意顺序导入。中断（断电、关机）后重新运行同一命令即可继续。`,
    '',
    `发布中心公钥指纹（首次导入时请与中心公布的指纹核对）：`,
    `     ${fp}`,
    `公钥文件：center.pub`,
    '',
    `【English】`,
    `This is disk ${volume} of ${n} of the national digital library bundle "${root.bundle.title}" (version ${root.bundle.version}).`,
    `${titles.length ? `This disk holds: ${titles.join(', ')}. ` : ''}The whole set holds ${root.totals.files} files, ${formatSize(root.totals.bytes)}.`,
    '',
    `Do not change, delete or rename anything on this disk.`,
    `1. Check every byte of this disk:`,
    `     bookcrate verify <where this disk is>`,
    `2. Load it into the library server (verifies first; damaged files are listed, the rest go in):`,
    `     bookcrate import <where this disk is> --store <library store folder>`,
    `   Disks of a set can be imported in any order. After an interruption, run the same command again.`,
    '',
    `Fingerprint of the center's public key (compare it with the one the center published):`,
    `     ${fp}`,
    `Key file: center.pub`,
    '',
    `Set ${root.layout!.set}, created ${root.bundle.created}.`,
    '',
  ].join('\r\n'); // CRLF so Notepad on an old Windows PC shows the lines
  // The byte-order mark tells Notepad before Windows 10 (1903) that the file is UTF-8; without it,
  // a Chinese Windows reads the file in its own code page (GBK) and the librarian sees mojibake.
  return `\uFEFF${text}`;
}
