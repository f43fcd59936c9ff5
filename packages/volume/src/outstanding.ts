/** Promises counted instead of kept: waiting for all of them needs no list that grows with the volume. */
export class Outstanding {
  private n = 0;
  private failure: unknown;
  private waiters: (() => void)[] = [];
  add(p: Promise<unknown>): void {
    this.n++;
    p.catch((e: unknown) => (this.failure ??= e)).finally(() => {
      if (--this.n === 0) for (const w of this.waiters.splice(0)) w();
    });
  }
  /** Resolves when every promise added so far has settled; rejects with the first failure. */
  async settled(): Promise<void> {
    if (this.n > 0) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure) throw this.failure;
  }
}
