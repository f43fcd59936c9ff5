import { read } from 'node:fs';

/**
 * Fills buf[0, want) from file position `at`, reading again after a short read; fewer bytes only
 * at the end of the file. The callback form of read: no FileHandle, no promise per call.
 */
export function readAt(fd: number, buf: Buffer, want: number, at: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const step = (): void => {
      if (got === want) return resolve(got);
      read(fd, buf, got, want - got, at + got, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return resolve(got);
        got += n;
        step();
      });
    };
    step();
  });
}
