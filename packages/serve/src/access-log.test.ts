import { describe, expect, it } from 'vitest';
import { combinedLine, logTime } from './access-log.js';

describe('Combined Log Format lines', () => {
  it('keep a request one line whatever it holds, and write the local time with its offset', () => {
    const time = new Date(2026, 9, 10, 13, 5, 6); // local time
    const line = combinedLine({
      client: '192.168.1.20', time, method: 'GET', url: '/search?q=a"b\\c\nd', httpVersion: '1.1', status: 200, bytes: 1234,
      referer: undefined, userAgent: 'x\ty\u007f',
    });
    expect(line).toBe(`192.168.1.20 - - [${logTime(time)}] "GET /search?q=a\\x22b\\x5Cc\\x0Ad HTTP/1.1" 200 1234 "-" "x\\x09y\\x7F"`);
    expect(line).not.toContain('\n');
    expect(logTime(time)).toMatch(/^10\/Oct\/2026:13:05:06 [+-]\d{4}$/);
    const off = -time.getTimezoneOffset();
    expect(logTime(time).slice(-5)).toBe(`${off >= 0 ? '+' : '-'}${String(Math.floor(Math.abs(off) / 60)).padStart(2, '0')}${String(Math.abs(off) % 60).padStart(2, '0')}`);
  });
});
