import { describe, expect, it } from 'vitest';
import { networkInterfaces } from 'node:os';
import { firewallRule, readerUrls } from './serve.js';

type Interfaces = ReturnType<typeof networkInterfaces>;
const nic = (address: string, family: 'IPv4' | 'IPv6', internal: boolean) => ({ address, family, internal, netmask: '', mac: '', cidr: null }) as never;

describe('readerUrls (what `serve` tells the librarian to open)', () => {
  // A county PC: loopback, a wired card with IPv4 and IPv6, a Wi-Fi card.
  const pc: Interfaces = {
    lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)],
    eth0: [nic('192.168.1.20', 'IPv4', false), nic('fe80::1', 'IPv6', false)],
    wlan0: [nic('10.0.0.7', 'IPv4', false)],
  };

  it('bound to one address, says that address', () => {
    expect(readerUrls('http://127.0.0.1:8080', pc)).toEqual({ list: ['http://127.0.0.1:8080'], everyAddress: false });
    expect(readerUrls('http://192.168.1.20:8080', pc)).toEqual({ list: ['http://192.168.1.20:8080'], everyAddress: false });
  });

  it('bound to every address, lists the PC\'s network addresses instead of 0.0.0.0, which opens nothing', () => {
    for (const any of ['http://0.0.0.0:8080', 'http://[::]:8080']) {
      expect(readerUrls(any, pc)).toEqual({ list: ['http://192.168.1.20:8080/', 'http://10.0.0.7:8080/'], everyAddress: true });
    }
    // no network card up: this PC itself
    expect(readerUrls('http://0.0.0.0:8080', { lo: pc.lo! })).toEqual({ list: ['http://127.0.0.1:8080/'], everyAddress: true });
  });

  it('on this machine, lists only addresses that are not loopback', () => {
    const here = readerUrls('http://0.0.0.0:9', networkInterfaces());
    expect(here.everyAddress).toBe(true);
    expect(here.list.length).toBeGreaterThan(0);
    for (const u of here.list) expect(u).toMatch(/^http:\/\/\d+\.\d+\.\d+\.\d+:9\/$/);
  });
});

describe('firewallRule (what `serve` tells a librarian on Windows)', () => {
  it('on every address on Windows, the netsh rule for its port; nothing on loopback or elsewhere', () => {
    expect(firewallRule('win32', true, '8080')).toBe('netsh advfirewall firewall add rule name="bookcrate serve 8080" dir=in action=allow protocol=TCP localport=8080');
    expect(firewallRule('win32', false, '8080')).toBeUndefined();
    expect(firewallRule('linux', true, '8080')).toBeUndefined();
  });
});
