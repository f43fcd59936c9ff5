import { describe, expect, it } from 'vitest';
import { ClientLimits, clientKey, readerAddress } from './limits.js';

/** A clock the test moves by hand, in milliseconds. */
function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('ClientLimits (what one client may take)', () => {
  it('requests: a burst of ten seconds\' worth, then one per 1/rate seconds; other clients are not touched', () => {
    const c = clock();
    const limits = new ClientLimits({ requestsPerSecond: 2, downloadsAtOnce: 0, bytesPerHour: 0 }, c.now);
    for (let i = 0; i < 20; i++) expect(limits.request('10.0.0.1'), `request ${i}`).toBeUndefined();
    expect(limits.request('10.0.0.1')).toEqual({ why: 'requests', retryAfterSeconds: 1 });
    expect(limits.request('10.0.0.2')).toBeUndefined();
    c.advance(500); // one token back
    expect(limits.request('10.0.0.1')).toBeUndefined();
    expect(limits.request('10.0.0.1')?.why).toBe('requests');
  });

  it('downloads at once: the next is refused until one ends; ending twice counts once', () => {
    const c = clock();
    const limits = new ClientLimits({ requestsPerSecond: 0, downloadsAtOnce: 2, bytesPerHour: 0 }, c.now);
    const a = limits.download('10.0.0.1');
    const b = limits.download('10.0.0.1');
    expect(typeof a).toBe('function');
    expect(typeof b).toBe('function');
    expect(limits.download('10.0.0.1')).toEqual({ why: 'downloads', retryAfterSeconds: 10 });
    (a as (n: number) => void)(100);
    (a as (n: number) => void)(100);
    const d = limits.download('10.0.0.1');
    expect(typeof d).toBe('function');
    expect(limits.download('10.0.0.1')).toMatchObject({ why: 'downloads' });
  });

  it('bytes an hour: counted when a download ends; refused while the bucket is empty, and again once it has refilled', () => {
    const c = clock();
    const limits = new ClientLimits({ requestsPerSecond: 0, downloadsAtOnce: 0, bytesPerHour: 1000 }, c.now);
    const end = limits.download('10.0.0.1') as (n: number) => void;
    end(1500); // one large file takes the client past its hour
    const refused = limits.download('10.0.0.1');
    expect(refused).toMatchObject({ why: 'bytes' });
    expect((refused as { retryAfterSeconds: number }).retryAfterSeconds).toBe(Math.ceil((501 / 1000) * 3600));
    c.advance(30 * 60_000); // half an hour: 500 bytes back, the bucket at 0
    expect(limits.download('10.0.0.1')).toMatchObject({ why: 'bytes' });
    c.advance(60_000);
    expect(typeof limits.download('10.0.0.1')).toBe('function');
  });

  it('bytes an hour: what downloads under way have sent counts before they end', () => {
    const c = clock();
    const limits = new ClientLimits({ requestsPerSecond: 0, downloadsAtOnce: 0, bytesPerHour: 1000 }, c.now);
    let sentA = 0;
    let sentB = 0;
    const endA = limits.download('10.0.0.1', () => sentA) as (n: number) => void;
    const endB = limits.download('10.0.0.1', () => sentB) as (n: number) => void;
    sentA = 600;
    expect(typeof limits.download('10.0.0.1', () => 0)).toBe('function'); // 400 left
    sentB = 500;
    const refused = limits.download('10.0.0.1', () => 0);
    expect(refused).toMatchObject({ why: 'bytes', retryAfterSeconds: Math.ceil((101 / 1000) * 3600) });
    expect(typeof limits.download('10.0.0.2', () => 0)).toBe('function'); // another computer
    // Ended: counted once (no longer as under way, now from the bucket).
    endA(600);
    endB(500);
    expect(limits.download('10.0.0.1')).toMatchObject({ why: 'bytes', retryAfterSeconds: Math.ceil((101 / 1000) * 3600) });
  });

  it('forgets a client with nothing streaming once its buckets are full again', () => {
    const c = clock();
    const limits = new ClientLimits({ requestsPerSecond: 10, downloadsAtOnce: 4, bytesPerHour: 1e6 }, c.now);
    limits.request('10.0.0.1');
    const streaming = limits.download('10.0.0.2') as (n: number) => void;
    expect(limits.size).toBe(2);
    c.advance(10_000);
    limits.forgetIdle();
    expect(limits.size).toBe(1); // 10.0.0.2 is still downloading
    streaming(500_000);
    c.advance(3_600_000);
    limits.forgetIdle();
    expect(limits.size).toBe(0);
  });

  it('keeps nothing for a limit that is off', () => {
    const c = clock();
    const limits = new ClientLimits({ requestsPerSecond: 0, downloadsAtOnce: 0, bytesPerHour: 0 }, c.now);
    for (let i = 0; i < 1000; i++) expect(limits.request(`10.0.${i >> 8}.${i & 255}`)).toBeUndefined();
    const end = limits.download('10.0.0.1') as (n: number) => void;
    end(10e9);
    expect(typeof limits.download('10.0.0.1')).toBe('function');
    limits.forgetIdle();
    expect(limits.size).toBe(1); // the one still downloading
  });

  it('a client is an IPv4 address, or an IPv6 /64', () => {
    expect(clientKey('192.168.1.20')).toBe('192.168.1.20');
    expect(clientKey('::ffff:192.168.1.20')).toBe('192.168.1.20');
    expect(clientKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:ffff::9')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey(undefined)).toBe('?');
  });

  it('takes the reader from X-Forwarded-For only behind a trusted proxy, read from the right', () => {
    const proxies = new Set(['127.0.0.1', '10.0.0.5']);
    expect(readerAddress('192.168.1.20', '1.2.3.4', proxies)).toBe('192.168.1.20'); // not from a proxy: ignored
    expect(readerAddress('127.0.0.1', undefined, proxies)).toBe('127.0.0.1');
    expect(readerAddress('::ffff:127.0.0.1', '192.168.1.20', proxies)).toBe('192.168.1.20');
    expect(readerAddress('127.0.0.1', '6.6.6.6, 192.168.1.20', proxies)).toBe('192.168.1.20'); // the reader wrote the left one
    expect(readerAddress('127.0.0.1', '192.168.1.20, 10.0.0.5', proxies)).toBe('192.168.1.20'); // two proxies in a row
    expect(readerAddress('127.0.0.1', ['192.168.1.20', '10.0.0.5'], proxies)).toBe('192.168.1.20'); // the header twice
    expect(readerAddress('127.0.0.1', '192.168.1.20:51234', proxies)).toBe('192.168.1.20');
    expect(readerAddress('127.0.0.1', '[2001:DB8::7]:443', proxies)).toBe('2001:db8::7');
    expect(readerAddress('127.0.0.1', 'unknown', proxies)).toBe('127.0.0.1'); // no address: the proxy's own
    expect(readerAddress('127.0.0.1', '192.168.1.20, junk, 10.0.0.5', proxies)).toBe('10.0.0.5'); // stops at junk
    expect(readerAddress(undefined, '1.2.3.4', proxies)).toBeUndefined();
  });
});
