import type { ErrorCode } from '@bookcrate/format';

/** The one map from error codes to process exit codes. Documented in `bookcrate --help`. */
export const EXIT = {
  OK: 0,
  DAMAGE: 1, // verification found damaged, missing or malformed content
  USAGE: 2, // wrong flags or arguments, bad recipe, a resume that does not match
  SIGNATURE: 3, // signature invalid, or signed by a key that is not trusted
  ENVIRONMENT: 4, // unreadable or unwritable disk, permission, full target
  REFUSED: 5, // the source cannot be packed as it is: unportable names, files changing while read
  BUSY: 6, // another bookcrate is writing to the same store
  PIPE_CLOSED: 141, // stdout's reader went away (`bookcrate … | head`); 128 + SIGPIPE, as a shell shows a program SIGPIPE ended
  INTERRUPTED: 130, // Ctrl-C (SIGINT, or Ctrl-Break on Windows): 128 + 2
  TERMINATED: 143, // SIGTERM (a service manager's stop): 128 + 15
  INTERNAL: 70,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'DAMAGED':
    case 'FORMAT':
      return EXIT.DAMAGE;
    case 'USAGE':
    case 'RECIPE':
    case 'RESUME_MISMATCH':
      return EXIT.USAGE;
    case 'SIGNATURE':
    case 'STALE':
    case 'UNTRUSTED':
      return EXIT.SIGNATURE;
    case 'BUSY':
      return EXIT.BUSY;
    case 'IO':
    case 'NO_SPACE':
      return EXIT.ENVIRONMENT;
    case 'NAME_POLICY':
    case 'SOURCE_CHANGED':
      return EXIT.REFUSED;
    default:
      return EXIT.INTERNAL;
  }
}

export const EXIT_HELP = `
Exit codes:
  0   all good
  1   damage found: a file, segment or manifest does not match what was signed, or a bad
      place of the disk cannot be read (its files are listed)
  2   usage error: a wrong flag or argument, a bad recipe, a resume with other arguments
  3   signature invalid, signed by a key that is not trusted, older than the version held,
      or an expired pointer (mirror)
  4   environment error: a disk that cannot be read or written, or a full target
  5   refused: names that cannot be packed portably, or a source file that changed while read
  6   busy: another bookcrate is writing to the same store (retry, or use --wait)
  70  internal error (a bug: please report it with the output)
  130 stopped by Ctrl-C (143: by SIGTERM)
  141 the program reading the output stopped (e.g. '| head'), so the command stopped too
An interrupted pack or import loses nothing it finished: run the same command again to continue.`;

/** The same, for the librarian's commands under a Chinese locale. */
export const EXIT_HELP_ZH = `
退出码：
  0   一切正常
  1   发现损坏：有文件、分段或清单与签名内容不符，或盘上有读不出的地方（其中的文件会列出）
  2   用法有误：选项或参数不对
  3   签名无效、签名密钥不受信任，或比资源库中已有的版本旧
  4   环境问题：磁盘无法读取或写入，或目标磁盘已满
  6   另一个 bookcrate 进程正在写入这个资源库（稍后重试，或加上 --wait）
  70  内部错误（程序缺陷：请连同输出一起报告）
  130 被 Ctrl-C 中止（143：被 SIGTERM 中止）
  141 读取输出的程序已退出（例如 '| head'），命令也随之停止
中断的导入不会丢失已完成的部分：再次运行同一命令即可继续。`;
