import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProgressView, type ProgressEvent } from './progress.js';

const MiB = 1024 * 1024;
const event = (phase: string, bytesDone: number, filesDone: number, extra: Partial<ProgressEvent> = {}): ProgressEvent => ({
  phase, bytesDone, bytesTotal: 100 * MiB, filesDone, filesTotal: 50, ...extra,
});

describe('ProgressView, plain lines (a log, a pipe)', () => {
  let lines: string[];
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-05T10:00:00Z'));
    lines = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('says no rate and no ETA in a phase\'s first second, then the rate of what moved since the phase began', () => {
    const view = new ProgressView('plain');
    // A phase whose first event comes with bytes already done (the files before it were passed over).
    view.update(event('verify', 40 * MiB, 20));
    expect(lines).toEqual(['[0s] verify 40.0% 40.0 MiB/100 MiB 20/50 files -- ETA --\n']);
    // Five seconds on (the next plain line), 50 MiB more: 10 MiB/s, 10 MiB left, so 1 s to go.
    vi.setSystemTime(Date.now() + 5000);
    view.update(event('verify', 90 * MiB, 45));
    expect(lines[1]).toBe('[5s] verify 90.0% 90.0 MiB/100 MiB 45/50 files 10.0 MiB/s ETA 1s\n');
  });

  it('counts bytes passed over in the ETA but not in the rate, and starts again at a new phase', () => {
    const view = new ProgressView('plain');
    view.update(event('import', 0, 0));
    vi.setSystemTime(Date.now() + 10_000);
    // 60 MiB through in 10 s, 40 of them passed over unread: the disk read 2 MiB/s; 40 MiB left at 6 MiB/s.
    view.update(event('import', 60 * MiB, 30, { bytesSkipped: 40 * MiB }));
    expect(lines[1]).toBe('[10s] import 60.0% 60.0 MiB/100 MiB 30/50 files 2.00 MiB/s ETA 7s\n');
    view.update(event('publish', 60 * MiB, 30));
    expect(lines[2]).toBe('[10s] publish 60.0% 60.0 MiB/100 MiB 30/50 files -- ETA --\n');
  });

  it('in Chinese too', () => {
    const view = new ProgressView('plain', 'zh');
    view.update(event('verify', 0, 0));
    expect(lines[0]).toMatch(/^\[0s\] .* 0\/50 个文件 -- 剩余 --\n$/);
  });
});
