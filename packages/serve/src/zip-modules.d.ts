// Types for the two modules under archiver that zip-names.ts extends (neither ships its own):
// only what it uses.
declare module 'compress-commons' {
  import { Transform } from 'node:stream';

  export class GeneralPurposeBit {
    useUTF8ForNames(b: boolean): void;
    usesUTF8ForNames(): boolean;
  }

  export class ZipArchiveEntry {
    constructor(name?: string);
    getName(): string;
    isDirectory(): boolean;
    getExtra(): Buffer;
    getCentralDirectoryExtra(): Buffer;
    setExtra(extra: Buffer): void;
    getGeneralPurposeBit(): GeneralPurposeBit;
    setTime(date: Date, forceLocalTime?: boolean): void;
    setMethod(method: number): void;
    setUnixMode(mode: number): void;
  }

  export class ZipArchiveOutputStream extends Transform {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    entry(...args: any[]): unknown;
  }
}

declare module 'zip-stream' {
  import { ZipArchiveOutputStream } from 'compress-commons';

  export interface ZipStreamFileData {
    name: string;
    date: Date;
    mode: number;
    store?: boolean;
  }

  export default class ZipStream extends ZipArchiveOutputStream {
    constructor(options?: object);
    readonly options: { forceLocalTime?: boolean };
    /** Fills in the defaults and cleans the name (slashes, no leading ./ or /). */
    _normalizeFileData(data: ZipStreamFileData): ZipStreamFileData;
    finalize(): void;
  }
}
