import { Command, CommanderError, Help, Option } from 'commander';
import { BookcrateError } from '@bookcrate/format';
import { EXIT, EXIT_HELP, EXIT_HELP_ZH } from './exit-codes.js';
import { helpHeadingsZh, helpTexts, langOfArgv, usageErrorZh } from './i18n.js';
import { reportError } from './output.js';
// only the heap keeper, not the volume package: every command, --version too, starts ~40 ms sooner
import { keepHeapSmall } from '@bookcrate/volume/heap';
import { exitOnInterrupt, type InterruptedWork } from './interrupt.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/**
 * `bookcrate verify … --json | head -1`: once the reader of stdout is gone, the next write fails
 * with EPIPE (node ignores SIGPIPE), which would end the process with a stack trace. Stop quietly
 * instead, as a program that SIGPIPE ends does: every command is safe to stop at any point (a pack
 * or import resumes), and nobody reads its results any more.
 */
function stopWhenOutputCloses(): void {
  if (process.stdout.listenerCount('error') > 0) return; // main ran before in this process (tests)
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(EXIT.PIPE_CLOSED);
    throw e;
  });
}

/**
 * The `bookcrate` command: parses flags, calls a library function, maps its outcome to an exit
 * code. No bookcrate logic lives here.
 */
export async function main(argv: string[]): Promise<number> {
  keepHeapSmall();
  stopWhenOutputCloses();
  let code: number = EXIT.OK;
  let json = argv.includes('--json');
  const lang = langOfArgv(argv);
  // verify, import and status speak the librarian's language, their --help too
  const h = helpTexts(lang);
  const exitHelp = lang === 'zh' ? EXIT_HELP_ZH : EXIT_HELP;
  const run = (fn: () => Promise<number>) => async () => {
    code = await fn();
  };
  // The batch commands stop at once on Ctrl-C, saying what they kept (interrupt.ts); serve and
  // mirror have their own clean stop.
  const stoppable = (work: InterruptedWork, json: boolean, fn: () => Promise<number>) =>
    run(async () => {
      // only the librarian's commands speak Chinese
      const off = exitOnInterrupt(work, work === 'verify' || work === 'import' || work === 'check' ? lang : 'en', json);
      try {
        return await fn();
      } finally {
        off();
      }
    });
  const program = new Command('bookcrate')
    .description('Ship a national library\'s digital resources to county libraries on disks, verifiably, and keep every copy current over the network.')
    .version('0.1.0', '-V, --version', lang === 'zh' ? '显示版本号' : 'output the version number')
    // Only `bookcrate --version` prints the version: after a command name, `--version N` is that command's (publish).
    .enablePositionalOptions()
    // `bookcrate verify disk1 disk2` must not check disk1 alone and say all is well
    .allowExcessArguments(false)
    .helpOption('-h, --help', lang === 'zh' ? '显示帮助' : 'display help for command')
    .helpCommand('help [command]', lang === 'zh' ? '显示某个命令的帮助' : 'display help for command')
    // commander's own headings (Usage, Arguments, Options, Commands), for every command
    .configureHelp(lang === 'zh' ? { formatHelp: (cmd, helper) => helpHeadingsZh(Help.prototype.formatHelp.call(helper, cmd, helper)) } : {})
    .addHelpText('after', EXIT_HELP)
    .showHelpAfterError(lang === 'zh' ? '（加上 --help 查看用法）' : '(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(lang === 'zh' ? usageErrorZh(s) : s) });

  program
    .command('keygen')
    .description('create the center\'s Ed25519 signing key pair: <prefix>.key (mode 0600) and <prefix>.pub')
    .requiredOption('--out <prefix>', 'path prefix of the two files')
    .option('--force', 'replace an existing key pair')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `\nExample:\n  bookcrate keygen --out /secure/center\n${EXIT_HELP}`)
    .action((o) => run(async () => (await import('./commands/keygen.js')).keygenCommand(o))());

  program
    .command('pack')
    .description('pack a recipe or a folder into signed, verified disk volumes')
    .argument('<recipe.json|source-dir>', 'a shipment recipe (see manifests/) or a bare folder')
    .option('--out <dir>', 'target folder or disk; repeat to write the same volumes to several disks at once; <n>:<dir> gives the disk volume n alone (a set\'s volumes to disks of their own, in one run)', collect)
    .option('--key <file.key>', 'the center\'s private key (from bookcrate keygen)')
    .option('--disk-size <size>', 'capacity of each target disk, e.g. 4TB, 3.6TiB, 500GB', '4TB')
    .option('--segment-size <size>', 'largest segment file (default 4GiB minus 1MiB, fits FAT32)')
    .option('--dry-run', 'print the plan (volumes, bytes, files, name problems) and write nothing')
    .option('--no-verify', 'skip reading the written volumes back')
    .option('--volume <n>', 'write only volume n (repeatable); the others are still read to sign the set; needs --created', collect)
    .option('--created <time>', 'the set\'s creation time, e.g. 2026-12-04T08:00:00Z: give the same one to every --volume run of a set (default: SOURCE_DATE_EPOCH, else now)')
    .option('--follow-symlinks', 'pack the targets of symbolic links instead of listing them as skipped')
    .option('--allow-unportable-names', 'pack names Windows cannot hold (reported as warnings instead of refusing)')
    .addOption(new Option('--non-utf8 <policy>', 'file names that are not UTF-8: gb18030 recodes them (legacy GBK), error refuses').default('gb18030'))
    .option('--include-junk', 'keep .DS_Store, Thumbs.db, desktop.ini and similar clutter')
    .option('--restart', 'discard an unfinished pack found in a target and start over')
    .option('--json', 'progress and result as JSON lines on stdout')
    .addHelpText('after', `
Examples:
  bookcrate pack manifests/example.recipe.json --dry-run --disk-size 4TB
  bookcrate pack shipment.json --key center.key --out /mnt/disk1 --out /mnt/disk2
  bookcrate pack shipment.json --key center.key --out 1:/mnt/sdb --out 2:/mnt/sdc --out 1:/mnt/sdd --out 2:/mnt/sde
      (a two-volume set onto two pairs of disks, the source read once)
  bookcrate pack shipment.json --key center.key --out /mnt/disk1 --volume 1 --created 2026-12-04T08:00:00Z
  bookcrate pack shipment.json --key center.key --out /mnt/disk2 --volume 2 --created 2026-12-04T08:00:00Z

An interrupted pack (power loss, Ctrl-C, kill) resumes when the same command is run again:
finished segments are kept and the result is byte-identical to an uninterrupted run.
When one of several disks fills up or fails, run the same command without its --out: the
other disks keep what they have finished.
Set SOURCE_DATE_EPOCH to fix the creation time recorded in the bundle.
${EXIT_HELP}`)
    .action((input, o) => stoppable(o.dryRun ? 'pack-dry-run' : 'pack', !!o.json, async () => (await import('./commands/pack.js')).packCommand(input, o))());

  program
    .command('verify')
    .description(h.verify.description)
    .argument('<volume-dir>', h.volumeDir)
    .option('--fast', h.verify.fast)
    .option('--strict', h.verify.strict)
    .option('--pubkey <file.pub>', h.verify.pubkey)
    .option('--lang <lang>', h.lang)
    .option('--json', h.verify.json)
    .option('--report <file.txt>', h.verify.report)
    .addHelpText('after', `
${h.examples}
  bookcrate verify /media/usb/ndlp-2026-vol1-of-2 --pubkey center.pub
  bookcrate verify E:\\ --fast
  bookcrate verify E:\\ --report D:\\校验报告.txt

${h.verify.notes}
${exitHelp}`)
    .action((target, o) => stoppable('verify', !!o.json, async () => (await import('./commands/verify.js')).verifyCommand(target, o))());

  program
    .command('import')
    .description(h.import.description)
    .argument('<volume-dir>', h.volumeDir)
    .requiredOption('--store <dir>', h.import.store)
    .option('--trust <center.pub>', h.import.trust)
    .option('--yes', h.import.yes)
    .option('--only <collection>', h.import.only, collect)
    .addOption(new Option('--all', h.import.all).conflicts('only'))
    .option('--wait', h.import.wait)
    .option('--no-space-check', h.import.spaceCheck)
    .option('--gc-after <duration>', h.import.gcAfter)
    .option('--lang <lang>', h.lang)
    .option('--json', h.import.json)
    .option('--report <file.txt>', h.import.report)
    .addHelpText('after', `
${h.examples}
  bookcrate import /media/usb --store /srv/library --trust center.pub
  bookcrate import E:\\ --store D:\\library --only 国图公开课
  bookcrate import E:\\ --store D:\\library --report D:\\导入报告.txt

${h.import.notes}
${exitHelp}`)
    .action((target, o) => stoppable('import', !!o.json, async () => (await import('./commands/import.js')).importCommand(target, o))());

  program
    .command('status')
    .description(h.status.description)
    .requiredOption('--store <dir>', h.status.store)
    .option('--lang <lang>', h.lang)
    .option('--json', h.status.json)
    .option('--import <n>', h.status.importRun)
    .addHelpText('after', `
${h.examples}
  bookcrate status --store /srv/library
  bookcrate status --store /srv/library --import 3
${exitHelp}`)
    .action((o) => run(async () => (await import('./commands/status.js')).statusCommand(o))());

  program
    .command('check')
    .description(h.check.description)
    .requiredOption('--store <dir>', h.check.store)
    .option('--fast', h.check.fast)
    .option('--restart', h.check.restart)
    .option('--wait', h.check.wait)
    .option('--lang <lang>', h.lang)
    .option('--json', h.check.json)
    .option('--report <file.txt>', h.check.report)
    .option('--rebuild-catalog', h.check.rebuildCatalog)
    .option('--trust <center.pub>', h.check.trust)
    .option('--force', h.check.force)
    .addHelpText('after', `
${h.examples}
  bookcrate check --store /srv/library
  bookcrate check --store D:\\library --fast
  bookcrate check --store /srv/library --rebuild-catalog

${h.check.notes}
${exitHelp}`)
    .action((o) => stoppable('check', !!o.json, async () => (await import('./commands/check.js')).checkCommand(o))());

  program
    .command('serve')
    .description('the county library\'s web server for readers: browse, search, stream, download')
    .requiredOption('--store <dir>', 'the library store (filled by bookcrate import or mirror)')
    .option('--listen <host:port>', 'where to listen; 0.0.0.0:8080 lets the whole library network in', '127.0.0.1:8080')
    .option('--lang <lang>', 'zh or en: the language of pages unless a reader picks the other (default zh)')
    .option('--client-downloads <n>', 'files and zips one computer may download at once (0: no limit)', '6')
    .option('--client-quota <size>', 'bytes one computer may download in an hour, e.g. 20GB (0: no limit)', '20GB')
    .option('--client-rate <n>', 'requests a second one computer may make, with bursts of ten seconds\' worth (0: no limit)', '20')
    .option('--base-path <path>', 'behind the library\'s portal: the path it passes on to bookcrate, e.g. /library (every link then starts with it)')
    .option('--access-log <file>', 'append a line per request to this file, in the Combined Log Format that log analyzers read (off by default: it holds readers\' addresses)')
    .option('--trust-proxy <address>', 'the address of a reverse proxy in front (repeatable): its X-Forwarded-For names the reader the limits count', collect)
    .addHelpText('after', `
Examples:
  bookcrate serve --store /srv/library
  bookcrate serve --store D:\\library --listen 0.0.0.0:8080
  bookcrate serve --store /srv/library --base-path /library --trust-proxy 127.0.0.1
      (behind the portal's nginx on this PC: location /library/ { proxy_pass http://127.0.0.1:8080; })

Read-only: it never changes the store, so it can run while an import or a mirror round works;
readers see the previous version until the new one is complete. Stop it with Ctrl-C.

Against bulk download, each reader's computer (an IPv4 address, an IPv6 /64) gets at most
--client-downloads downloads at once, --client-quota an hour and --client-rate requests a second;
past them it gets a page saying when to come back (HTTP 429), and the others are not slowed.
A browser never opens more than six downloads at once, and a reader's pages and video seeks stay
far below the rate.
Behind a reverse proxy every request comes from the proxy: name it with --trust-proxy, and each
reader is counted by the address the proxy saw (X-Forwarded-For); from anyone else the header is
ignored.

A resource of several files downloads as one zip. A Windows browser that asks for Chinese gets
its names in GBK, which Explorer on a Chinese Windows (7 and 8 too) reads; every other browser
gets UTF-8 names. The resource page links to the other form for a PC whose names come out garbled.
${EXIT_HELP}`)
    .action((o) => run(async () => (await import('./commands/serve.js')).serveCommand(o))());

  program
    .command('publish')
    .description('publish a recipe or a folder as the next version of a repository for the mirrors (the network form)')
    .argument('[recipe.json|source-dir]', 'a shipment recipe (see manifests/) or a bare folder, as for pack (not needed with --renew)')
    .requiredOption('--repo <dir>', 'the repository folder, served as static files (nginx) to the mirrors; created if missing')
    .option('--key <file.key>', 'the center\'s private key (from bookcrate keygen)')
    .option('--expires <duration>', 'how long the signed pointer is valid; mirrors refuse it after that', '14d')
    .option('--keep <n>', `versions to keep (at least 2); files only older versions use are deleted`, '3')
    .option('--renew', 'only re-sign the current version\'s pointer with a new expiry (run it daily from cron)')
    .option('--rehash', 'read every file, even those whose path, size and mtime match the previous version')
    .option('--version <n>', 'number of the new version (default: the newest published + 1)')
    .option('--follow-symlinks', 'publish the targets of symbolic links instead of leaving them out')
    .option('--allow-unportable-names', 'publish names Windows cannot hold (reported as warnings instead of refusing)')
    .addOption(new Option('--non-utf8 <policy>', 'file names that are not UTF-8: gb18030 recodes them (legacy GBK), error refuses').default('gb18030'))
    .option('--include-junk', 'keep .DS_Store, Thumbs.db, desktop.ini and similar clutter')
    .option('--json', 'progress and result as JSON lines on stdout')
    .addHelpText('after', `
Examples:
  bookcrate publish shipment.json --repo /srv/repo/ndlp-2026 --key center.key
  bookcrate publish /data/selection --repo /srv/repo/selection --key center.key --keep 4 --expires 21d
  bookcrate publish --renew --repo /srv/repo/ndlp-2026 --key center.key        (daily, from cron)

Files whose path, size and modification time equal the previous version's are not read again;
the others are hashed, chunked if large (8 MiB or more) and copied once. latest.json is written
last: until then mirrors see the previous version. If nothing changed, no version is added and
only the pointer is renewed. An interrupted publish (power loss, kill) is finished by running the
same command again. Set SOURCE_DATE_EPOCH to fix the creation time recorded in the version.
${EXIT_HELP}`)
    .action((input, o) => stoppable('publish', !!o.json, async () => (await import('./commands/publish.js')).publishCommand(input, o))());

  program
    .command('mirror')
    .description('keep a store current from an upstream repository, and serve it to the tier below')
    .requiredOption('--upstream <url>', 'the repository: the center\'s (nginx) or another mirror\'s --listen address')
    .requiredOption('--store <dir>', 'the library store to keep current (created if missing)')
    .option('--trust <center.pub>', 'the center\'s public key, pinned if the store has none yet')
    .option('--interval <duration>', 'time between rounds', '10m')
    .option('--bwlimit <rate>', 'bandwidth limit for all transfers, e.g. 2MB/s (default: none)')
    // (the mirror package's DEFAULT_CONCURRENCY; not imported here, which keeps --help quick to start)
    .option('--concurrency <n>', 'objects fetched at the same time; at most 4 of them of 1 MiB or more', '16')
    .option('--once', 'one round, then exit with a code that says how it ended (for cron)')
    .option('--listen <host:port>', 'serve the store to the tier below, plus /status and /metrics')
    .option('--token-file <file>', 'send the bearer token in this file to the upstream')
    .option('--ca <file.pem>', 'also trust this CA certificate for an https upstream')
    .option('--gc-after <duration>', 'delete objects no version uses after this long', '7d')
    .option('--stall-timeout <duration>', 'give up on a request that receives nothing for this long (it is retried)', '30s')
    .option('--json', 'with --once: the result as JSON (logs are always JSON lines on stdout)')
    .addHelpText('after', `
Examples:
  bookcrate mirror --upstream http://repo.center.lan/ndlp-2026/ --store /srv/library --trust center.pub --listen 0.0.0.0:8081
  bookcrate mirror --upstream http://mirror.city.lan:8081/ --store /srv/library --once --bwlimit 2MB/s

Each round: the signed pointer (one small request when nothing changed), the manifest parts that
changed, the content that is missing (changed ranges only for large files), then one atomic switch.
Files an import recorded as damaged or missing are fetched too. SIGTERM ends the round cleanly.
Redirects (a portal moved to https, a CDN) are followed, five at most; the --token-file token
goes only to the --upstream host itself, and never from https to plain http.

With --once the exit code says how the round ended:
  0   the store holds a verified version at least as new as the one it held
  1   the upstream served bytes that do not match what the center signed (nothing was admitted)
  3   refused: bad signature, key not trusted, an older version (rollback) or an expired pointer
  4   could not finish (network, upstream errors, full disk); the next round continues
  6   another bookcrate is writing to the store
${EXIT_HELP}`)
    .action((o) => run(async () => (await import('./commands/mirror.js')).mirrorCommand(o))());

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    json ||= false;
    return reportError(e instanceof Error || e instanceof BookcrateError ? e : new Error(String(e)), json, lang);
  }
}
