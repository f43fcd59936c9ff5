import { describe, expect, it } from 'vitest';
import { combinedLine, loggedStatus, logTime } from './access-log.js';

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

describe('the status a line records', () => {
  it('is 499 where nothing was sent, Node\'s own where it answered bytes that do not parse, else the handler\'s', () => {
    expect(loggedStatus(206, 1500, undefined)).toBe(206);
    expect(loggedStatus(200, 1500, 'ECONNRESET')).toBe(200); // the reader left part way: what was sent was the page
    expect(loggedStatus(200, 0, undefined)).toBe(499);
    expect(loggedStatus(200, 0, 'HPE_INVALID_METHOD')).toBe(499); // the socket could not be written to: nothing sent
    expect(loggedStatus(200, 47, 'HPE_INVALID_METHOD')).toBe(400);
    expect(loggedStatus(200, 60, 'HPE_HEADER_OVERFLOW')).toBe(431);
    expect(loggedStatus(200, 60, 'ERR_HTTP_REQUEST_TIMEOUT')).toBe(408);
  });
});
