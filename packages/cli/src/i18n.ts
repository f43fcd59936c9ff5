import type { ErrorCode, MessageId, Say } from '@bookcrate/format';
import type { InterruptedWork } from './interrupt.js';

/**
 * Messages for the people who run `verify`, `import` and `status` on a county library PC:
 * Simplified Chinese when the locale is Chinese (LANG=zh_CN.UTF-8, or a Chinese Windows), English
 * otherwise; `--lang` overrides. Errors too: the libraries name the ones a librarian can meet
 * (`say`), and zhErrors words every one of them.
 */
export type Lang = 'en' | 'zh';

/** The language asked for on a command line (`--lang zh`, `--lang=zh`), else the locale's. */
export function langOfArgv(argv: string[]): Lang {
  const i = argv.indexOf('--lang');
  const eq = argv.find((a) => a.startsWith('--lang='));
  return detectLang(i >= 0 ? argv[i + 1] : eq?.slice('--lang='.length));
}

/**
 * `--lang`, else the locale as POSIX defines it (the first of LC_ALL, LC_MESSAGES and LANG that is
 * set and not empty), else the system's own locale. Windows sets none of those variables: there the
 * last step, the user's locale as the runtime reports it ("zh-CN" on a Chinese Windows), is what
 * gives a librarian Chinese messages without a flag.
 */
export function detectLang(flag?: string, env: NodeJS.ProcessEnv = process.env, systemLocale: () => string = runtimeLocale): Lang {
  const v = (flag || env.LC_ALL || env.LC_MESSAGES || env.LANG || systemLocale()).toLowerCase();
  return v.startsWith('zh') ? 'zh' : 'en';
}

/** ICU's default locale: from the user's settings on Windows, from the same variables elsewhere. */
function runtimeLocale(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().locale;
  } catch {
    return '';
  }
}

const en = {
  reportHead: (what: 'verify' | 'import' | 'check', target: string, when: string) => `bookcrate ${what} report: ${target}, ${when}`,
  reportSaved: (path: string) => `The report is saved in ${path} (for printing).`,
  volumeOf: (i: number, n: number, title: string, version: number, set: string) => `Volume ${i} of ${n} of "${title}" (version ${version}, set ${set})`,
  keyTrusted: (fp: string) => `Signed by the trusted key ${fp}.`,
  keyFromVolume: (fp: string) => `Signed by key ${fp}, taken from the volume itself: this proves the disk is intact, not who made it. Compare the fingerprint with the one the national center published, or pass --pubkey center.pub.`,
  checked: (segs: number, files: number, size: string, secs: string, rate: string) => `Checked ${segs} segment(s), ${files} file(s), ${size} in ${secs} s (${rate}/s).`,
  checkedFast: (segs: number, files: number, secs: string) => `Fast check: signature, manifest and ${segs} segment size(s), ${files} file(s) listed, in ${secs} s. Run without --fast to check every byte.`,
  ok: 'Result: OK. Every byte matches the signed manifest.',
  okFast: 'Result: OK (fast check). Signature, manifest and segment sizes are right.',
  damaged: (n: number, files: number) => `Result: DAMAGED. ${n} problem(s), ${files} damaged or missing file(s):`,
  damagedNext: 'Import still loads every good file; the damaged ones are listed, and can be fetched over the network later or imported from a good copy of this disk.',
  more: (n: number) => `… and ${n} more (use --json for the full list)`,
  problem: (kind: string) => kind,
  confirmKey: (fp: string) => `First import into this store. The disk is signed by the center key\n  ${fp}\nCompare it with the fingerprint the national center published. Trust this key? [y/N] `,
  importHead: (i: number, n: number, title: string, version: number) => `Imported volume ${i} of ${n} of "${title}" (version ${version})`,
  importCounts: (files: number, size: string, presentFiles: number, presentSize: string, secs: string, rate: string) =>
    `  ${files} file(s), ${size} copied in ${secs} s (${rate}/s); ${presentFiles} file(s), ${presentSize} were already in the store`,
  resumed: (n: number) => `  resumed: ${n} segment(s) finished by an earlier run were skipped`,
  importedBefore: '  this volume was imported before: nothing was left to do',
  versionFromNetwork: '  the store had this version from the network already: the disk brought only what the store lacked',
  passedOver: (size: string) => `  ${size} on the disk were passed over unread (files already in the store, or not selected)`,
  notSelected: (n: number) => `  ${n} file(s) not selected (--only)`,
  carriesOnly: (titles: string[], left: number) => left > 0
    ? `  this library carries only ${titles.join(', ')}: ${left} file(s) of other collections were left out (import --all adds them)`
    : `  this library carries only ${titles.join(', ')} (import --all adds the other collections)`,
  importOk: 'Result: every file of this volume is in the store and matches its signature.',
  importOkSelected: 'Result: every file of this volume that the library takes is in the store and matches its signature.',
  importDamaged: (n: number) => `Result: ${n} damaged file(s) were NOT imported (everything else was). They are recorded as missing: the mirror fetches them over the network, or import a good copy of this disk with the same command:`,
  headerWarn: (n: number) => `  note: ${n} tar header(s) differ from the manifest; those files' content was checked and is fine`,
  awaiting: (list: string) => `  still awaited: volume(s) ${list}; import them in any order`,
  current: (dir: string) => `  this version is complete and now visible to readers: ${dir}`,
  currentWithout: (dir: string, n: number) => `  this version is now visible to readers without the ${n} damaged file(s), until they are fetched: ${dir}`,
  brought: (before: number, added: number, updated: number) => `  against version ${before}, readers find ${added === 0 && updated === 0 ? 'nothing new' : `${[added ? `${added} new resource(s)` : '', updated ? `${updated} resource(s) with new or changed files` : ''].filter(Boolean).join(' and ')} (the home page lists them)`}`,
  statusNone: 'This store holds no bundle yet.',
  statusVersion: (title: string, id: string, version: number, state: string, current: boolean, replacedBy?: number) => `${title} (${id}) version ${version}: ${state === 'complete' ? 'complete' : state === 'superseded' ? 'left incomplete' : 'importing'}${current ? ', visible to readers' : ''}${replacedBy ? `, replaced by version ${replacedBy}` : ''}`,
  statusDamagedMoot: (n: number, newer: number) => `  its ${n} damaged file(s) need no fetching: readers see version ${newer}`,
  statusSuperseded: (newer: number, inList: string) => `  volumes in: ${inList || '-'}; the others are no longer needed: version ${newer} is complete`,
  statusVolumes: (inList: string, awaited: string) => `  volumes in: ${inList || '-'}; awaited: ${awaited || 'none'}`,
  statusFromNetwork: '  received over the network (mirror)',
  statusCarried: (titles: string[], notCarried: number) => `  carries only: ${titles.join(', ')} (${notCarried} file(s) of other collections are not carried; import --only or --all to add them)`,
  statusFiles: (files: number, present: number, damaged: number, pending: number) => `  files: ${files} (present ${present}, damaged ${damaged}, awaiting a volume ${pending})`,
  serveStarted: (url: string) => `Serving the library at ${url}  (Ctrl-C to stop)`,
  serveStartedNetwork: (urls: string[]) => `Serving the library to the library network: readers open ${urls.join(' or ')}  (Ctrl-C to stop)`,
  serveFirewall: (command: string) => `If readers' computers cannot open it, let them through Windows Firewall once, in a command prompt run as administrator:\n  ${command}`,
  statusDamagedNext: '  the damaged files come with the next mirror round, or import a good copy of their disk: bookcrate import <disk> --store <this store>',
  statusKey: (fp: string) => `Trusted center key: ${fp}`,
  statusImports: 'Recent imports (status --import <#> shows one\'s whole report):',
  importRunHead: (id: number, started: string, state: string, source: string) => `Import #${id}, started ${started} (${state}), from ${source}`,
  importRunFailed: (error: string) => `  It stopped with: ${error}\n  What it finished is kept; once the cause is dealt with, run the same import command again.`,
  importRunNoReport: '  no report: this import did not finish (it was stopped, or it is running); run the same import command again to finish it',
  statusRounds: 'Recent mirror rounds:',
  statusServes: (version: number, expires: string) => `  serves the tier below (mirror --listen): version ${version}, its signed pointer valid until ${expires}`,
  statusServesNone: '  serves no version to the tier below yet: no verified pointer of the version it holds (the next round gets one)',
  statusImport: (id: number, started: string, state: string, volume: number, source: string) => `  #${id} ${started} ${state} volume ${volume} ${source}`,
  statusRound: (id: number, started: string, outcome: string | null, version: number | null, size: string, upstream: string) =>
    `  #${id} ${started} ${outcome ?? 'running'} ${version !== null ? `v${version} ` : ''}${size} ${upstream}`,
  expectedActual: (expected: string, actual: string) => `expected ${expected}  actual ${actual}`,
  progressPhase: (phase: string) => ({ objects: 'check', tree: 'readers', rebuild: 'rebuild', waiting: 'waiting for the store check to pause', listing: 'list' } as Record<string, string>)[phase] ?? phase,
  progressFiles: (done: number, total: number) => (total ? `${done}/${total} files` : `${done} files`),
  progressEta: 'ETA',
  errorPrefix: 'bookcrate: ',
  whatToDo: '  what to do: ',
  interrupted: (by: string, work: InterruptedWork) =>
    `stopped (${by}). ` +
    {
      pack: 'The segments already written are kept: run the same command again to continue where it stopped.',
      'pack-dry-run': 'Nothing was written.',
      verify: 'The volume was not fully checked: run the command again to check it.',
      import: 'Nothing already imported is lost, and readers never see a half-imported version: run the same command again to continue.',
      publish: 'Nothing half-written is ever offered to the mirrors: run the same command again to finish.',
      check: 'What was checked is kept: run the same command again to go on from there.',
    }[work],
  checkHead: (dir: string) => `Check of the store ${dir}`,
  checkCounts: (full: boolean, objects: number, size: string, secs: string, rate: string) => full
    ? `  ${objects} file(s) of the store, ${size}, read back and hashed in ${secs} s (${rate}/s)`
    : `  ${objects} file(s) of the store, ${size}: presence and sizes checked in ${secs} s (--fast: their bytes were not read)`,
  checkResumed: (objects: number, size: string, bad: number) => `  went on from the check stopped before: ${objects} file(s), ${size} of them, had been checked already${bad ? `, and ${bad} of them were bad (bookcrate status lists them)` : ''}`,
  checkTree: (bundle: string, version: number, files: number) => `  readers' files of ${bundle} version ${version}: ${files} in place`,
  checkTreeProblems: (bundle: string, version: number, n: number) => `  readers' files of ${bundle} version ${version}: ${n} missing or changed:`,
  checkTreeRebuilt: '  the readers\' folder was built again from the store, without the damaged files',
  checkOk: 'Result: OK. Every file of the store is what the catalog says, and the readers\' files are in place.',
  checkOkFast: 'Result: OK (fast check: every file is there with its size; run without --fast to read every byte).',
  checkBad: (n: number, files: number) => `Result: DAMAGED. ${n} file(s) of the store are not what they were; the ${files} file(s) readers had of them are recorded as damaged and no longer offered:`,
  checkCatalogOk: '  the catalog (catalog.sqlite): every page read, sound',
  checkCatalogBad: (n: number) => `  the catalog (catalog.sqlite) is DAMAGED: SQLite's check names ${n} problem(s):`,
  checkCatalogNext: 'Result: the CATALOG is damaged. Keep the store as it is and copy the whole store folder somewhere safe before anything else; then rebuild the catalog from what the store holds: bookcrate check --store <store> --rebuild-catalog (the damaged one is kept beside it).',
  checkYielded: (n: number) => `(paused ${n} time(s) to let an import or a mirror round go first)`,
  checkBadBefore: (n: number) => `Result: DAMAGED. This run found nothing more, but the part checked before it was stopped had ${n} bad file(s); they are recorded as damaged and no longer offered (bookcrate status lists them).`,
  checkBadNext: 'The next mirror round fetches them again; without a network, import a disk that holds them (bookcrate import <disk> --store <this store>). `bookcrate status` lists them until then.',
  checkTreeFixed: 'Result: the store\'s files are all good; the readers\' folder lacked or had other files, and was built again.',
  rebuildHead: (dir: string) => `Rebuild of the catalog of the store ${dir}`,
  rebuildOldCatalog: (problems: string[], versions: number) => problems.length
    ? `  the old catalog: ${problems.length} problem(s) (${problems[0]})${versions ? `; ${versions} version(s) could still be read from it` : ''}`
    : '  the old catalog: none (catalog.sqlite was not there)',
  rebuildKey: (fingerprints: string[], from: string) => `  versions checked with the center key ${fingerprints.join(', ')} (${({ given: 'given with --trust', 'old-catalog': 'the one the old catalog trusted', store: 'the store\'s own copy of the key it trusted' } as Record<string, string>)[from] ?? from})`,
  rebuildObjects: (n: number, size: string) => `  ${n} file(s) in the store's objects folder, ${size}`,
  rebuildVersion: (bundle: string, version: number, files: number, state: string, current: boolean, missing: number) =>
    `  ${bundle} version ${version}: ${files} entries, ${state === 'complete' ? (current ? 'complete, shown to readers' : 'complete') : 'not complete: the mirror fetches the rest'}${missing ? `; ${missing} file(s) no longer in the store, recorded as damaged` : ''}`,
  rebuildIncomplete: (bundle: string, version: number, volumes: number) => `  ${bundle} version ${version} (${volumes} disk(s)) was not complete: import its disks again (what the store holds is not read again)`,
  rebuildSkipped: (what: string, reason: string) => `  not rebuilt: ${what}: ${reason}`,
  rebuildSuperseded: (bundle: string, version: number) => `  ${bundle} version ${version} was not complete and a newer version is shown: left out`,
  recoveredFromTree: (n: number) => `  ${n} file(s) missing from the store's objects folder were whole in the readers' folder, and were put back`,
  rebuildOldKept: (path: string) => `The old catalog is kept as ${path} (with its history of imports, mirror rounds and checks); delete it once you no longer need it.`,
  rebuildResumed: '  (went on from a rebuild that was stopped)',
  rebuildDone: 'Result: the catalog was rebuilt. A running bookcrate serve opens it within seconds, a running mirror at its next round.',
  rebuildDoneDamaged: 'Result: the catalog was rebuilt, with damaged or missing files recorded, or disks to import again (above). A running bookcrate serve opens it within seconds; the next mirror round, or an import of the disks, brings what is missing.',
  statusChecks: 'Checks of the store (bookcrate check):',
  statusCheckDue: (days: number | undefined, store: string) => `${days === undefined ? 'The store\'s files have never been read back' : `The store's files were last read back ${days} days ago`}: run bookcrate check --store ${store} (hours for terabytes; readers are served meanwhile)`,
  statusCheck: (started: string, mode: string, state: 'done' | 'running' | 'stopped', objects: number, bad: number) => `  ${started} ${mode === 'fast' ? 'fast' : 'full'} ${state === 'running' ? 'running now' : state === 'stopped' ? 'stopped part way (run bookcrate check again to go on)' : 'finished'}: ${objects} file(s) checked${state === 'running' ? ' so far' : ''}, ${bad} bad`,
};

const zh: typeof en = {
  reportHead: (what, target, when) => `bookcrate ${what === 'verify' ? '校验' : what === 'check' ? '资源库检查' : '导入'}报告：${target}，${when}`,
  reportSaved: (path) => `报告已保存到 ${path}（可打印）。`,
  volumeOf: (i, n, title, version, set) => `「${title}」第 ${i} 盘，共 ${n} 盘（版本 ${version}，套号 ${set}）`,
  keyTrusted: (fp) => `签名密钥为已信任的 ${fp}。`,
  keyFromVolume: (fp) => `签名密钥 ${fp} 取自本盘自身：只能证明盘上内容完好，不能证明来源。请与国家中心公布的指纹核对，或使用 --pubkey center.pub。`,
  checked: (segs, files, size, secs, rate) => `已校验 ${segs} 个分段、${files} 个文件，共 ${size}，用时 ${secs} 秒（${rate}/秒）。`,
  checkedFast: (segs, files, secs) => `快速校验：签名、清单及 ${segs} 个分段的大小，清单列出 ${files} 个文件，用时 ${secs} 秒。不加 --fast 可逐字节校验。`,
  ok: '结论：完好。每一个字节都与签名清单一致。',
  okFast: '结论：完好（快速校验）。签名、清单与分段大小均正确。',
  damaged: (n, files) => `结论：有损坏。共 ${n} 处问题，${files} 个文件损坏或缺失：`,
  damagedNext: '导入时其余完好的文件照常导入；损坏的文件会被列出，之后可通过网络补齐，或导入这张盘的完好副本。',
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
      'segment-unreadable': '盘上读不出',
      'file-unreadable': '无法读取',
      hash: '内容损坏',
      missing: '缺失',
      unreadable: '无法读取',
      'store-missing': '库中缺失',
      'store-changed': '库中已变',
      'store-unreadable': '库中读不出',
      changed: '被改动',
      damaged: '已损坏仍在',
    })[kind] ?? kind,
  confirmKey: (fp) => `这是本资源库的首次导入。本盘由以下中心密钥签名：\n  ${fp}\n请与国家中心公布的指纹核对。是否信任此密钥？[y/N] `,
  importHead: (i, n, title, version) => `已导入「${title}」（版本 ${version}）第 ${i} 盘，共 ${n} 盘`,
  importCounts: (files, size, presentFiles, presentSize, secs, rate) =>
    `  复制 ${files} 个文件，共 ${size}，用时 ${secs} 秒（${rate}/秒）；另有 ${presentFiles} 个文件（${presentSize}）库中已有，未重复复制`,
  resumed: (n) => `  续传：跳过了上次已完成的 ${n} 个分段`,
  importedBefore: '  这张盘此前已经导入过，没有需要再做的事',
  versionFromNetwork: '  资源库已通过网络获得这个版本：这张盘只补充了库中缺少的内容',
  passedOver: (size) => `  盘上有 ${size} 的内容无需读取，已直接跳过（库中已有或未选择的文件）`,
  notSelected: (n) => `  有 ${n} 个文件未选择（--only）`,
  carriesOnly: (titles, left) => left > 0
    ? `  本资源库只收藏：${titles.join('、')}；其他专题的 ${left} 个文件未导入（用 import --all 可添加）`
    : `  本资源库只收藏：${titles.join('、')}（用 import --all 可添加其他专题）`,
  importOk: '结论：本盘所有文件均已导入，且与签名一致。',
  importOkSelected: '结论：本盘中本馆收藏的文件均已导入，且与签名一致。',
  importDamaged: (n) => `结论：有 ${n} 个损坏文件未导入（其余文件均已导入）。这些文件已记录为缺失：可由镜像通过网络补齐，或用同一命令导入这张盘的完好副本：`,
  headerWarn: (n) => `  提示：${n} 个 tar 文件头与清单不符；这些文件的内容已单独校验，完好`,
  awaiting: (list) => `  尚待导入：第 ${list} 盘，可按任意顺序导入`,
  current: (dir) => `  该版本已完整，读者现在可以访问：${dir}`,
  currentWithout: (dir, n) => `  读者现在可以访问该版本（${n} 个损坏文件除外，补齐之前无法访问）：${dir}`,
  brought: (before, added, updated) => `  与第 ${before} 版相比，${added === 0 && updated === 0 ? '读者没有新的资源可看' : [added ? `新增 ${added} 项资源` : '', updated ? `${updated} 项资源有新增或更新的文件` : ''].filter(Boolean).join('，')}${added || updated ? '（首页“新到资源”列出）' : ''}`,
  statusNone: '本资源库尚未导入任何资源包。',
  statusVersion: (title, id, version, state, current, replacedBy) => `${title}（${id}）版本 ${version}：${state === 'complete' ? '已完整' : state === 'superseded' ? '未导入完整' : '导入中'}${current ? '，读者可见' : ''}${replacedBy ? `，已由版本 ${replacedBy} 取代` : ''}`,
  statusDamagedMoot: (n, newer) => `  其中 ${n} 个损坏文件无需再补齐：读者看到的是版本 ${newer}`,
  statusSuperseded: (newer, inList) => `  已导入的盘：${inList || '无'}；其余的盘不再需要：版本 ${newer} 已完整`,
  statusVolumes: (inList, awaited) => `  已导入的盘：${inList || '无'}；尚待导入：${awaited || '无'}`,
  statusFromNetwork: '  经网络同步获得（镜像）',
  statusCarried: (titles, notCarried) => `  只收藏以下专题：${titles.join('、')}（其他专题的 ${notCarried} 个文件未收藏；可用 import --only 或 --all 添加）`,
  statusFiles: (files, present, damaged, pending) => `  文件：共 ${files} 个（已有 ${present}，损坏 ${damaged}，待导入 ${pending}）`,
  serveStarted: (url) => `书库网页服务已启动：${url}  （按 Ctrl-C 停止）`,
  serveStartedNetwork: (urls) => `书库网页服务已向图书馆局域网开放，读者可访问：${urls.join(' 或 ')}  （按 Ctrl-C 停止）`,
  serveFirewall: (command) => `如果读者的电脑打不开，请让 Windows 防火墙放行（只需一次，在“以管理员身份运行”的命令提示符中执行）：\n  ${command}`,
  statusDamagedNext: '  损坏的文件会在下一次镜像同步时补齐；也可以导入这张盘的完好副本：bookcrate import <盘> --store <本资源库>',
  statusKey: (fp) => `已信任的中心密钥：${fp}`,
  statusImports: '最近的导入（用 status --import <编号> 查看某次导入的完整报告）：',
  importRunHead: (id, started, state, source) => `第 ${id} 次导入，开始于 ${started}（${({ done: '已完成', running: '进行中或已中断', failed: '失败' } as Record<string, string>)[state] ?? state}），来源：${source}`,
  importRunNoReport: '  没有报告：这次导入没有完成（被中断，或仍在进行）；重新运行同一导入命令即可完成',
  importRunFailed: (error) => `  导入因以下错误停止：${error}\n  已完成的部分都已保留；排除原因后，重新运行同一导入命令即可。`,
  statusRounds: '最近的同步：',
  statusServes: (version, expires) => `  可供下级同步（mirror --listen）：版本 ${version}，其签名指针有效期至 ${expires}`,
  statusServesNone: '  尚不能供下级同步：所持版本还没有已验证的指针（下一次同步会取得）',
  statusImport: (id, started, state, volume, source) =>
    `  #${id} ${started} ${({ done: '已完成', running: '进行中或已中断', failed: '失败' } as Record<string, string>)[state] ?? state} 第 ${volume} 盘 ${source}`,
  statusRound: (id, started, outcome, version, size, upstream) =>
    `  #${id} ${started} ${outcome === null ? '进行中' : (({ 'up-to-date': '已是最新', updated: '已更新', repaired: '已修复', refused: '被拒绝', failed: '失败', busy: '资源库忙', aborted: '已中止' } as Record<string, string>)[outcome] ?? outcome)} ${version !== null ? `版本 ${version} ` : ''}${size} ${upstream}`,
  expectedActual: (expected, actual) => `应为 ${expected}  实为 ${actual}`,
  progressPhase: (phase) =>
    ({
      manifest: '读取清单', segments: '逐字节校验', locating: '定位损坏', import: '导入', publish: '发布',
      scan: '扫描', plan: '规划', write: '写入', finalize: '收尾', verify: '回读校验',
      objects: '检查资源库', tree: '检查读者目录', rebuild: '重建读者目录', waiting: '等待资源库检查暂停', listing: '清点文件',
    })[phase] ?? phase,
  progressFiles: (done, total) => (total ? `${done}/${total} 个文件` : `${done} 个文件`),
  progressEta: '剩余',
  errorPrefix: 'bookcrate：',
  whatToDo: '  处理办法：',
  interrupted: (by, work) =>
    `已停止（${by}）。` +
    {
      pack: '已写好的分段会保留：再次运行同一命令即可从中断处继续。',
      'pack-dry-run': '没有写入任何内容。',
      verify: '这张盘没有校验完：请重新运行该命令完成校验。',
      import: '已导入的内容不会丢失，读者也不会看到导入到一半的版本：再次运行同一命令即可继续。',
      publish: '镜像站不会看到写到一半的版本：再次运行同一命令即可完成。',
      check: '已检查的部分会记下：再次运行同一命令即可从中断处继续。',
    }[work],
  checkHead: (dir) => `资源库检查：${dir}`,
  checkCounts: (full, objects, size, secs, rate) => full
    ? `  资源库中的 ${objects} 个文件（共 ${size}）已逐字节读出并校验，用时 ${secs} 秒（${rate}/秒）`
    : `  资源库中的 ${objects} 个文件（共 ${size}）：已检查是否齐全、大小是否相符，用时 ${secs} 秒（--fast：未读取内容）`,
  checkResumed: (objects, size, bad) => `  接着上次中断的检查继续：此前已检查 ${objects} 个文件（${size}）${bad ? `，其中 ${bad} 个已损坏（bookcrate status 会列出它们）` : ''}`,
  checkTree: (bundle, version, files) => `  读者目录 ${bundle} 版本 ${version}：${files} 个文件完好`,
  checkTreeProblems: (bundle, version, n) => `  读者目录 ${bundle} 版本 ${version}：${n} 个文件缺失或被改动：`,
  checkTreeRebuilt: '  已根据资源库重新生成读者目录（不含损坏的文件）',
  checkOk: '结论：完好。资源库中的每个文件都与目录数据库相符，读者目录中的文件齐全。',
  checkOkFast: '结论：完好（快速检查：每个文件都在、大小相符；不加 --fast 运行可逐字节校验）。',
  checkBad: (n, files) => `结论：有损坏。资源库中有 ${n} 个文件已不是原来的内容；读者用到的 ${files} 个文件已记为损坏，不再提供给读者：`,
  checkCatalogOk: '  目录数据库（catalog.sqlite）：已逐页读出，完好',
  checkCatalogBad: (n) => `  目录数据库（catalog.sqlite）已损坏：SQLite 的检查发现 ${n} 处问题：`,
  checkCatalogNext: '结论：目录数据库已损坏。请先保持资源库原样，把整个资源库文件夹复制到安全的地方；然后用资源库自己保存的内容重建目录数据库：bookcrate check --store <资源库> --rebuild-catalog（损坏的那份会保留在旁边）。',
  checkYielded: (n) => `（期间暂停了 ${n} 次，让导入或镜像同步先进行）`,
  checkBadBefore: (n) => `结论：有损坏。这次没有再发现问题，但中断前已检查的部分中有 ${n} 个文件损坏；它们已记为损坏，不再提供给读者（bookcrate status 会列出它们）。`,
  checkBadNext: '下一轮镜像同步会重新获取它们；没有网络时，导入含有这些文件的盘即可（bookcrate import <盘> --store <本资源库>）。在此之前 bookcrate status 会列出它们。',
  checkTreeFixed: '结论：资源库中的文件都完好；读者目录中有文件缺失或被改动，已重新生成。',
  rebuildHead: (dir) => `重建资源库 ${dir} 的目录数据库`,
  rebuildOldCatalog: (problems, versions) => problems.length
    ? `  旧的目录数据库：${problems.length} 处问题（${problems[0]}）${versions ? `；仍能从中读出 ${versions} 个版本的记录` : ''}`
    : '  旧的目录数据库：没有（catalog.sqlite 不在）',
  rebuildKey: (fingerprints, from) => `  用国家中心公钥 ${fingerprints.join('、')} 核对各版本（${({ given: '由 --trust 给出', 'old-catalog': '旧目录数据库所信任的公钥', store: '资源库自己保存的所信任公钥' } as Record<string, string>)[from] ?? from}）`,
  rebuildObjects: (n, size) => `  资源库的 objects 文件夹中有 ${n} 个文件，共 ${size}`,
  rebuildVersion: (bundle, version, files, state, current, missing) =>
    `  ${bundle} 版本 ${version}：${files} 个条目，${state === 'complete' ? (current ? '完整，已提供给读者' : '完整') : '不完整：镜像同步会补齐其余部分'}${missing ? `；其中 ${missing} 个文件已不在资源库中，记为损坏` : ''}`,
  rebuildIncomplete: (bundle, version, volumes) => `  ${bundle} 版本 ${version}（共 ${volumes} 张盘）尚未导入完整：请再次导入它的盘（资源库中已有的内容不会重新读取）`,
  rebuildSkipped: (what, reason) => `  未能重建：${what}：${reason}`,
  rebuildSuperseded: (bundle, version) => `  ${bundle} 版本 ${version} 不完整，且已有更新的版本提供给读者：不再保留`,
  recoveredFromTree: (n) => `  资源库 objects 文件夹中缺失的 ${n} 个文件在读者目录中仍完好，已放回`,
  rebuildOldKept: (path) => `旧的目录数据库保留为 ${path}（其中有导入、同步和检查的历史记录）；不再需要时可以删除。`,
  rebuildResumed: '  （接着上次中断的重建继续）',
  rebuildDone: '结论：目录数据库已重建。正在运行的 bookcrate serve 几秒内就会改用它，镜像同步在下一轮改用它。',
  rebuildDoneDamaged: '结论：目录数据库已重建，损坏或缺失的文件或需要再次导入的盘已记下（见上文）。正在运行的 bookcrate serve 几秒内就会改用它；下一轮镜像同步或再次导入盘会补齐缺失的内容。',
  statusChecks: '资源库检查记录（bookcrate check）：',
  statusCheckDue: (days, store) => `${days === undefined ? '资源库中的文件还从未逐字节检查过' : `资源库中的文件上次逐字节检查是在 ${days} 天前`}：请运行 bookcrate check --store ${store}（数 TB 需要几个小时，期间读者照常访问）`,
  statusCheck: (started, mode, state, objects, bad) => `  ${started} ${mode === 'fast' ? '快速' : '逐字节'}检查 ${state === 'running' ? '正在进行' : state === 'stopped' ? '中途停止（再次运行 bookcrate check 即可继续）' : '已完成'}：${state === 'running' ? '已' : ''}检查 ${objects} 个文件，损坏 ${bad} 个`,
};

type Args = Record<string, string | number>;

/** Every error a librarian can meet, in Chinese: [what went wrong, what to do]. */
const zhErrors: Record<MessageId, (a: Args) => [string, string]> = {
  'no-volume': (a) => [`在 ${a.dir} 没有找到 bookcrate 资源盘`, '请指向硬盘本身，或指向包含 bookcrate/volume.json 的文件夹'],
  'inside-volume': (a) => [`${a.path} 在资源盘 ${a.volume} 里面，它本身不是资源盘`, `请指向资源盘的文件夹：${a.volume}`],
  'folder-unreadable': (a) => [`无法读取 ${a.dir}：${a.reason}`, '请检查路径是否正确、硬盘是否已连接'],
  'no-such-path': (a) => [`${a.dir} 不存在`, '请检查路径是否正确；盘没有连接（或还没有挂载）时也没有这个路径：请连接好盘，使用它显示的路径（Windows 上是它的盘符，例如 E:\\）'],
  'not-a-folder': (a) => [`${a.dir} 是一个文件，不是文件夹`, '请指向硬盘本身，或指向包含 bookcrate/volume.json 的文件夹'],
  'volume-file-not-a-file': (a) => [
    a.size !== undefined ? `盘上的文件 ${a.path} 有 ${a.size} 字节，超出这种文件可能的大小（${a.max} 字节）` : `盘上的 ${a.path} 不是一个文件（而是文件夹、设备或指向设备的链接）`,
    '这张盘已损坏或被改动过：请向国家中心索取这张盘的完好副本',
  ],
  'volume-incomplete': (a) => [`盘上缺少文件：${a.path}`, '这张盘不完整（复制时中断，或有文件被删除）：请向国家中心索取这张盘的完好副本'],
  'volume-file-missing': (a) => [`盘上缺少文件：${a.path}`, '这是 bookcrate 资源盘吗？请指向包含 bookcrate/volume.json 的文件夹'],
  'volume-file-unreadable': (a) => [`无法读取盘上的文件 ${a.path}：${a.reason}`, '请检查硬盘是否已连接、能否正常读取'],
  'newer-format': (a) => [`这张盘的格式是 ${a.format}，本版 bookcrate 只能读取 ${a.reads}`, '请安装更新版本的 bookcrate'],
  'segment-unreadable': (a) => [`无法读取盘上的 ${a.path}：${a.reason}；这块盘已无法读取`, '请检查盘是否连接牢靠（USB 线是否松动，集线器是否供电），然后重新运行。如果盘已连接好仍然出错，说明这块盘正在损坏：请向国家中心索取新的副本'],
  'volume-unreadable': (a) => [`无法读取 ${a.path}：${a.reason}；这块盘已无法读取`, '请检查盘是否连接牢靠（USB 线是否松动，集线器是否供电），然后重新运行同一命令：已导入的内容都会保留。如果仍在同一位置出错，说明这块盘正在损坏：请向国家中心索取新的副本'],
  'volume-changed': (a) => [`${a.path} 上的清单在导入过程中被改动了`, '导入期间请勿改动或更换这张盘，然后重新运行同一命令'],
  'volume-doc-mismatch': (a) => [`${a.path} 与签名清单不符`, '这张盘的说明文件已损坏，或属于另一套盘；请向国家中心索取新的副本'],
  'part-damaged': (a) => [`清单的一部分已损坏（${a.list} 列表的分块 ${a.part}，校验值不符）`, '这张盘已损坏；请向国家中心索取新的副本'],
  'signature-damaged': () => ['签名文件 root.sig 已损坏', '请向国家中心索取这张盘的新副本'],
  'signed-by-other-key': (a) => [`这张盘由密钥 ${a.key} 签名，不是已信任的密钥 ${a.trusted}`, '请确认拿到的 center.pub 是否正确；由未知密钥签名的盘不可使用'],
  'root-changed': () => ['清单根文件 root.json 与签名时的摘要不符：清单在签名之后被改动过', '这张盘已损坏或被篡改，请勿使用，并向国家中心索取新的副本'],
  'signature-invalid': () => ['root.json 的签名无效', '这张盘已损坏或被篡改，请勿使用，并向国家中心索取新的副本'],
  'key-file-unreadable': (a) => [`无法读取公钥文件 ${a.path}：${a.reason}`, '请检查路径'],
  'private-key-given': (a) => [`${a.where} 是私钥，不是国家中心的公钥`, '请指定公钥（center.pub，每张盘上都有）；私钥只应保存在国家中心——如果这个文件是随盘寄来的，请告知国家中心'],
  'not-a-public-key': (a) => [`${a.where} 不是 Ed25519 公钥`, '请指定国家中心的公钥文件（center.pub）'],
  'store-trusts-other-key': (a) => [`本资源库已信任中心密钥 ${a.pinned}；--trust 指定的却是 ${a.given}`, '一个资源库只信任一个中心密钥；如果国家中心确实更换了密钥，请向中心询问处理办法'],
  'no-key-on-volume': (a) => [`本资源库尚未信任任何中心密钥，盘上也没有公钥（${a.path}）`, '请用 --trust center.pub 指定国家中心的公钥'],
  'key-not-confirmed': (a) => [`这是本资源库的首次导入，盘上的中心密钥 ${a.fingerprint} 尚未经过确认`, '请与国家中心公布的指纹核对；若一致，请加上 --yes 重新运行（或用 --trust center.pub 指定公钥）'],
  'older-version': (a) => [`这张盘是「${a.title}」的版本 ${a.version}，而资源库中已有更新的版本 ${a.newest}`, '旧盘不能替换较新的内容；请使用最新的盘，或由镜像同步保持资源库最新'],
  'version-conflict': (a) => [`资源库中「${a.title}」版本 ${a.version} 的签名内容与这张盘不同`, '两张盘声称是同一版本；请向国家中心确认哪一张是正确的'],
  'unknown-collection': (a) => [`--only ${a.names}：本资源包中没有这个专题`, `可选的专题：${a.collections}`],
  'store-busy': (a) => [`另一个 bookcrate 进程（${a.what}，进程号 ${a.pid}，主机 ${a.host}，开始于 ${a.since}）正在写入这个资源库`, '请等它结束后再运行同一命令，或加上 --wait 排队等候'],
  'store-unusable': (a) => [`无法使用资源库中的 ${a.path}：${a.reason}`, '请检查 --store 路径及其权限'],
  'store-read-only': (a) => [`无法创建资源库文件夹 ${a.path}：它所在的磁盘是只读的`, '请把资源库放在可以写入的磁盘上，或把这块磁盘以可读写方式挂载'],
  'store-not-empty': (a) => [`${a.dir} 里已有其他内容（${a.names}），它不是 bookcrate 资源库`, `请为资源库指定一个新的或空的文件夹，例如 ${a.suggestion}`],
  'listen-not-host-port': (a) => [`--listen "${a.listen}" 不是"地址:端口"的形式`, '例如 --listen 127.0.0.1:8080（只有本机能访问），或 --listen 0.0.0.0:8080（图书馆局域网内都能访问）'],
  'listen-port-in-use': (a) => [`无法在 ${a.address} 上提供服务：这个端口已被占用`, '请先停止占用它的另一个服务，或用 --listen 换一个端口，例如 --listen 127.0.0.1:8081'],
  'listen-failed': (a) => [`无法在 ${a.address} 上提供服务：${a.reason}`, '请检查 --listen 的地址：必须是这台电脑自己的地址（或 0.0.0.0 表示所有地址）'],
  'catalog-damaged': (a) => [`资源库的目录数据库 ${a.path} 已损坏（${a.reason}）`, '资源库所在的磁盘可能有问题：请先把整个资源库文件夹复制到安全的地方，再运行 bookcrate check --store <资源库> --rebuild-catalog，用资源库自己保存的内容重建目录数据库（旧的会保留）'],
  'catalog-missing': (a) => [`资源库 ${a.dir} 的目录数据库 catalog.sqlite 不见了，但资源文件还在`, `运行 bookcrate check --store ${a.dir} --rebuild-catalog，用资源库自己保存的内容重建它`],
  'catalog-sound': (a) => [`目录数据库 ${a.path} 能正常打开，SQLite 也没有发现问题：不需要重建`, '重建会丢失资源库的历史记录（导入、同步、检查）；要检查资源文件请运行 bookcrate check --store <资源库>，确实要重建请加 --force'],
  'rebuild-no-key': (a) => [`没有可用来核对资源库中各版本的国家中心公钥：旧目录数据库读不出来，${a.dir} 的 roots 文件夹里也没有`, '请给出中心的公钥：bookcrate check --store <资源库> --rebuild-catalog --trust <center.pub>（中心寄来的每张盘上都有 center.pub）'],
  'catalog-io': (a) => [`无法读写资源库的目录数据库 ${a.path}（${a.reason}）`, '资源库所在的磁盘读写出错：请检查磁盘及其连接线，然后重新运行同一命令'],
  'bad-base-path': (a) => [`--base-path "${a.path}" 不是 /library 这样的路径`, '请给出门户网站转交请求时用的路径，例如 --base-path /library（只用字母、数字和 . _ ~ -）'],
  'bad-trust-proxy': (a) => [`--trust-proxy "${a.address}" 不是 IP 地址`, '请给出反向代理连接本服务时用的地址，例如门户网站就在这台电脑上时用 --trust-proxy 127.0.0.1'],
  'inside-store': (a) => [`${a.dir} 在资源库 ${a.store} 里面，它本身不是资源库`, `请指定资源库自己的文件夹：--store ${a.store}`],
  'no-such-import': (a) => [`本资源库没有第 ${a.n} 次导入的记录`, '运行 bookcrate status --store <资源库> 可查看最近的导入及其编号'],
  'no-such-store': (a) => [`${a.dir} 不存在`, '请检查 --store 的路径（以及资源库所在的磁盘是否已连接）；新的资源库由 bookcrate import <盘> --store <目录> 创建'],
  'not-a-store': (a) => [`${a.dir} 不是 bookcrate 资源库（没有 catalog.sqlite）`, '请先导入一张盘：bookcrate import <盘> --store <目录>'],
  'store-newer-schema': (a) => [`这个资源库由更新版本的 bookcrate 写入（结构版本 ${a.schema}，本版只认识到 ${a.known}）`, '请在这台电脑上安装更新版本的 bookcrate'],
  'store-full': (a) => [`资源库所在的磁盘已满（正在写入 ${a.path}）`, '请在图书馆服务器的磁盘上腾出空间，然后重新运行同一命令：已导入的内容都会保留'],
  'store-too-small': (a) => [`资源库所在的磁盘只剩 ${a.free} 可用空间，而这张盘还需要约 ${a.need}（资源库中还没有的 ${a.files} 个文件，以及目录数据库所需的空间）`, `请在图书馆服务器的磁盘上至少腾出 ${a.short}（或导入到更大磁盘上的资源库），然后重新运行同一命令：已导入的内容都会保留`],
  'store-too-small-copies': (a) => [`资源库所在的磁盘只剩 ${a.free} 可用空间，而这张盘还需要约 ${a.need}（资源库中还没有的 ${a.files} 个文件，以及供读者浏览的目录中每个文件的副本：这块磁盘不支持硬链接）`, `请在图书馆服务器的磁盘上至少腾出 ${a.short}（或把资源库放到 NTFS 或 ext4 格式的更大磁盘上），然后重新运行同一命令：已导入的内容都会保留`],
  'file-too-large': (a) => [`无法写入 ${a.path}：文件超过了这块磁盘的文件系统所能容纳的大小（FAT32 格式的磁盘容纳不了超过 4 GiB 的文件）`, '请改用 NTFS、exFAT 或 ext4 格式的磁盘（例如把资源库放到这样的磁盘上）'],
  'store-write-failed': (a) => [`无法写入 ${a.path}：${a.reason}`, '请检查资源库所在的磁盘及其权限'],
};

/**
 * Errors no table names (rare: a malformed manifest, an unexpected system error): the kind in
 * Chinese, the details as the library wrote them.
 */
const zhByCode: Partial<Record<ErrorCode, [string, string]>> = {
  FORMAT: ['这张盘的数据格式有误', '这张盘可能已损坏；请向国家中心索取新的副本'],
  DAMAGED: ['内容与签名不符', '这张盘可能已损坏；请向国家中心索取新的副本'],
  SIGNATURE: ['签名或密钥有问题', '请勿使用这张盘，并向国家中心索取新的副本'],
  UNTRUSTED: ['尚未信任国家中心的密钥', '请用 --trust center.pub 指定国家中心的公钥'],
  STALE: ['版本不符', '请使用最新的盘'],
  BUSY: ['另一个 bookcrate 进程正在写入这个资源库', '请等它结束后再运行同一命令，或加上 --wait'],
  IO: ['读写出错', '请检查硬盘是否已连接，以及路径和权限是否正确'],
  NO_SPACE: ['磁盘已满', '请腾出空间后重新运行同一命令'],
  USAGE: ['命令用法有误', '请运行 bookcrate <命令> --help 查看用法'],
};

/**
 * An error as its reader should see it: [message, hints…] in the language asked for. English is
 * the library's own words; Chinese comes from the tables above, the library's hint kept after ours
 * when only the kind of error could be said.
 */
export function errorText(lang: Lang, e: { code: ErrorCode; message: string; hint?: string | undefined; say?: Say | undefined }): { message: string; hints: string[] } {
  if (lang === 'zh') {
    if (e.say) {
      const [message, hint] = zhErrors[e.say.id](e.say.args ?? {});
      return { message, hints: [hint] };
    }
    const kind = zhByCode[e.code];
    if (kind) return { message: `${kind[0]}：${e.message}`, hints: [kind[1], ...(e.hint ? [`（${e.hint}）`] : [])] };
  }
  return { message: e.message, hints: e.hint ? [e.hint] : [] };
}

export function messages(lang: Lang): typeof en {
  return lang === 'zh' ? zh : en;
}

/** commander's help headings in Chinese (they sit at the start of their lines; the columns stay as they are) */
export function helpHeadingsZh(help: string): string {
  return help
    .replace(/^Usage: /m, '用法：')
    .replace(/^Arguments:$/m, '参数：')
    .replace(/^Options:$/m, '选项：')
    .replace(/^Global Options:$/m, '全局选项：')
    .replace(/^Commands:$/m, '命令：');
}

/**
 * commander's usage errors (a missing or unknown option, a missing argument…) in Chinese, the names
 * kept; one it does not know stays as commander wrote it.
 */
export function usageErrorZh(text: string): string {
  const rules: [RegExp, (...m: string[]) => string][] = [
    [/^error: required option '(.+)' not specified/, (o) => `缺少必需的选项 ${o}`],
    [/^error: option '(.+)' argument missing/, (o) => `选项 ${o} 后面缺少值`],
    [/^error: unknown option '(.+?)'(?:\s*\(Did you mean (.+)\?\))?/, (o, d) => `没有 ${o} 这个选项${d ? `（是不是 ${d}？）` : ''}`],
    [/^error: missing required argument '(.+)'/, (a) => `缺少参数 ${a}`],
    [/^error: too many arguments(?: for '(.+?)')?\. Expected (\d+) arguments? but got (\d+)/, (c, want, got) => `参数过多：${c ? `${c} 命令` : '它'}只接受 ${want} 个参数，这里给了 ${got} 个`],
    [/^error: unknown command '(.+?)'(?:\s*\(Did you mean (.+)\?\))?/, (c, d) => `没有 ${c} 这个命令${d ? `（是不是 ${d}？）` : ''}`],
    [/^error: option '(.+)' cannot be used with option '(.+)'/, (a, b) => `选项 ${a} 不能与 ${b} 同时使用`],
    [/^error: option '(.+)' argument '(.+)' is invalid/, (o, v) => `选项 ${o} 的值 ${v} 无效`],
  ];
  for (const [re, say] of rules) {
    const m = re.exec(text);
    if (m) return `${zh.errorPrefix}${say(...m.slice(1).map((x) => x ?? ''))}\n`;
  }
  return text;
}

/** `--help` of the commands a librarian runs, in both languages (commander's headings: helpHeadingsZh). */
export function helpTexts(lang: Lang) {
  const zh = lang === 'zh';
  return {
    lang: zh ? 'zh 或 en（默认按系统语言：LANG 等环境变量，Windows 上按用户的区域设置）' : 'zh or en (default: the locale: LANG and the like, on Windows the user\'s own)',
    volumeDir: zh ? '资源盘文件夹，或装有资源盘文件夹的硬盘 / 文件夹' : 'a volume folder, or a disk / folder holding volume folders',
    verify: {
      description: zh ? '按签名清单校验一张资源盘：逐字节校验，或用 --fast 快速校验' : 'check a volume against its signed manifest: every byte, or --fast',
      fast: zh ? '只校验签名、清单、分段是否齐全及大小（4 TB 也只需几秒）' : 'signature, manifest, presence and sizes only (seconds, even for 4 TB)',
      strict: zh ? '另外校验每个文件的 SHA-256（密码学校验，较慢），不止 XXH64' : 'also check every file\'s SHA-256 (cryptographic; slower) besides its XXH64',
      pubkey: zh ? '要信任的国家中心公钥（默认用盘上自带的公钥，只能证明完好，不能证明来源）' : 'the center\'s public key to trust (default: the key on the volume, which proves integrity only)',
      json: zh ? '进度和完整报告以 JSON 行输出到标准输出' : 'progress and the full report as JSON lines on stdout',
      report: zh ? '另把报告（每个有问题的文件都列出）存成文本文件，便于打印；Windows 记事本也能正确显示' : 'also save the report, every file with a problem listed, as a text file for printing (opens right in Windows Notepad)',
      notes: zh
        ? `报告列出每一个损坏或缺失的文件，不只第一个。旧盘上读不出的地方（读取错误）不会中止校验：那里的文件列为"无法读取"，
报告写明盘上读不出的位置，退出码为 1（导入时这些文件同样列出，其余照常导入）。校验过程中盘被拔出或不再响应时，
校验会停下并提示检查连接（退出码 4）。`
        : `The report names every damaged or missing file, not only the first. A bad place on an old disk
(read errors) does not stop the check: its files are listed as unreadable, with the place on the
disk, and the exit code is 1 (import lists the same files and loads the rest). A disk unplugged or
no longer answering during the check stops it, with the advice to check the cable (exit code 4).`,
    },
    import: {
      description: zh ? '把校验无误的资源盘导入本地资源库（县级图书馆）' : 'load a verified volume into the local library store (county libraries)',
      store: zh ? '资源库文件夹（首次导入时自动创建）' : 'the library store (created on first import)',
      trust: zh ? '首次导入时要信任的国家中心公钥' : 'the center\'s public key to pin on first import',
      yes: zh ? '不经询问就信任盘上自带的公钥（请先核对指纹）' : 'pin the key the disk carries without asking (check its fingerprint first)',
      only: zh ? '只导入这个专题（编号、名称或文件夹名），今后资源库也只收藏它；可重复，或用逗号隔开几个' : 'import only this collection (id, title or folder), and carry it from now on; repeatable, or several with commas',
      all: zh ? '重新收藏全部专题（撤销 --only）并导入' : 'carry every collection again (undoes --only) and import them',
      wait: zh ? '另一个导入正在写入同一资源库时，排队等候而不是退出' : 'wait for another import into the same store instead of refusing',
      gcAfter: zh ? '新版本启用后，不再被任何保留版本使用的文件在这段时间后删除（默认 7d，即 7 天）' : 'once a newer version is shown, files no kept version uses are deleted after this long (default 7d)',
      spaceCheck: zh ? '即使资源库的磁盘看来放不下这张盘也照样导入（例如压缩或去重的文件系统）：磁盘满时导入会停下，再运行同一命令即可继续' : 'import even when the store\'s disk looks too small for this volume (a compressing or deduplicating filesystem): a full disk then stops it, and the same command resumes',
      json: zh ? '进度和报告以 JSON 行输出到标准输出' : 'progress and the report as JSON lines on stdout',
      report: zh ? '另把报告（每个损坏的文件都列出）存成文本文件，便于打印；Windows 记事本也能正确显示' : 'also save the report, every damaged file listed, as a text file for printing (opens right in Windows Notepad)',
      notes: zh
        ? `同一套的多张盘可按任意顺序导入。损坏的文件不会中断导入：其余文件照常导入，损坏的文件会被列出并记为缺失；
之后导入这张盘的完好副本即可补齐它们（只读取这些文件）。旧盘上读不出的地方（读取错误）也一样：那里的文件列为"无法读取"，
其余照常导入；导入过程中盘被拔出时，导入会停下并提示检查连接，不会把文件记为损坏。
导入中断后（停电、Ctrl-C），再运行同一命令即可：已完成的分段会被跳过。资源库中已有的文件不会再从盘上读取。
资源库的磁盘放不下这张盘还没有的内容时，导入一开始就会说明还差多少空间，而不是写到一半才停下。
镜像已经通过网络同步了同一版本时，这张盘只补充库中缺少的内容。新版本启用后，只有更早版本才用到的文件
在 --gc-after 规定的时间后删除，资源库不会因为每季度的新盘而被占满。

空间有限的图书馆可以只收藏部分专题：首次导入时用 --only，资源库就只收藏这些专题（导入完成后读者即可访问，
镜像同步也只获取它们）；之后再用 --only 可以增加专题（对同一张盘再运行一次即可导入），--all 则重新收藏全部专题。`
        : `Volumes of a set go in any order. Damaged files do not stop the import: the rest goes in, the
damaged ones are listed and recorded as missing; importing a good copy of the disk later brings
them in (reading only them). So do the bad places of an old disk (read errors): their files are
listed as unreadable, the rest goes in; a disk unplugged during the import stops it with the advice to
check the cable, and no file is recorded as damaged. After an interruption (power cut, Ctrl-C), run the same command
again: finished segments are skipped. Files the store already holds are not read from the disk.
A store whose disk cannot hold what the volume brings (the files it does not hold yet) is told so
at the start, with how much is missing, not hours into the import. The disk of a version the
mirror brought already only adds what the store lacks. Once a newer version is shown, files only
older versions used are deleted after --gc-after, so a quarter's disk does not fill the store.

A library with little room can carry only some collections: the first import with --only carries
those alone (readers see the version once they are in; the mirror fetches only them), a later
--only adds more (run it on the disk again to bring them in), --all carries everything again.`,
    },
    status: {
      description: zh ? '查看资源库的内容：各版本、已导入和尚待导入的盘、损坏的文件、导入记录' : 'what a library store holds: versions, volumes in and awaited, damaged files, imports',
      store: zh ? '资源库文件夹' : 'the library store',
      json: zh ? '以 JSON 输出' : 'the status as JSON',
      importRun: zh ? '显示第 n 次导入的完整报告（可打印存档）' : 'show the whole report of import #n (to print or file)',
    },
    check: {
      description: zh ? '检查资源库本身：每个文件是否仍完好，读者目录是否齐全；损坏的文件记为损坏，之后由镜像或导入补齐' : 'check the store itself: every file still intact, the readers\' folder complete; bad files are recorded damaged, to be fetched again',
      store: zh ? '资源库文件夹' : 'the library store',
      fast: zh ? '只检查每个文件是否存在、大小是否相符（4 TB 也只需几分钟），不读取内容' : 'presence and sizes only (minutes, even for 4 TB); the bytes are not read',
      restart: zh ? '从头开始，而不是接着上次中断的检查继续' : 'start from the beginning instead of going on from a check that was stopped',
      wait: zh ? '另一个 bookcrate 正在写入同一资源库时，排队等候而不是退出' : 'wait for another bookcrate writing to the store instead of refusing',
      json: zh ? '进度和报告以 JSON 行输出到标准输出' : 'progress and the report as JSON lines on stdout',
      report: zh ? '另把报告（每个损坏的文件都列出）存成文本文件，便于打印；Windows 记事本也能正确显示' : 'also save the report, every bad file listed, as a text file for printing (opens right in Windows Notepad)',
      rebuildCatalog: zh ? '目录数据库（catalog.sqlite）损坏或丢失时，用资源库自己保存的内容（签名的版本根、清单分片、资源文件）重建它；旧的会保留' : 'when the catalog (catalog.sqlite) is damaged or lost: rebuild it from what the store holds (the signed roots, the manifest parts, the files); the old one is kept',
      trust: zh ? '重建时用来核对各版本签名的国家中心公钥（默认：旧目录数据库或资源库保存的那把）' : 'with --rebuild-catalog: the center key to check the versions with (default: the old catalog\'s, or the store\'s copy)',
      force: zh ? '目录数据库完好时也重建（会丢失历史记录）' : 'with --rebuild-catalog: rebuild even a catalog SQLite finds nothing wrong in (its history is lost)',
      notes: zh
        ? `资源库所在的硬盘会老化：出现坏道、数据线接触不良，或有人改动了读者目录里的文件（它和资源库中的文件是同一份）。
check 把资源库中的每个文件读出来，按 SHA-256 与目录数据库核对；不符的文件记为损坏，读者网页不再提供，
bookcrate status 会列出它们，下一轮镜像同步（或导入含有它们的盘）会补齐。读者目录中缺失或被改动的文件，
会根据资源库重新生成。检查 4 TB 需要几个小时，可以随时中断（Ctrl-C、关机）：再次运行同一命令会从中断处继续。
建议每季度运行一次（Windows 任务计划程序或 cron），--fast 可以更频繁。检查时读者网页照常可用。

目录数据库 catalog.sqlite 损坏或丢失时，--rebuild-catalog 会重建它：依据资源库保存的各版本签名根（roots 文件夹，
用中心公钥核对）、清单分片和资源文件（每个文件都读出并校验；--fast 只核对大小）。旧的目录数据库会保留；
正在运行的 serve 和镜像同步会自动改用新的。中途中断的话，再次运行同一命令即可继续。`
        : `A store's disk ages: sectors go bad, a cable fails, someone changes a file in the readers' folder
(which is the store's own file). check reads every file of the store back and compares it with
its SHA-256 in the catalog; one that differs is recorded as damaged, no longer offered to readers,
listed by bookcrate status, and fetched again by the next mirror round (or an import of a disk
that holds it). Missing or changed files of the readers' folder are put back from the store.
4 TB take hours; stop it any time (Ctrl-C, a shutdown) and run the same command again to go on
from there. Run it every quarter (Task Scheduler or cron), --fast more often. Readers are served
throughout.

--rebuild-catalog makes a new catalog when catalog.sqlite is damaged or lost: from the signed
roots of the versions (kept in roots/, checked with the center key), their manifest parts and
the files of the store, every one of which is read back and hashed (--fast: sizes only). The old
catalog is kept beside it; a running serve and mirror open the new one by themselves. Stopped,
the same command goes on.`,
    },
    examples: zh ? '示例：' : 'Examples:',
    example: zh ? '示例：' : 'Example:',
  };
}
