import { describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey, isWellFormedApiKey, keyHint, KEY_PREFIX } from '../src/rules/keys.ts';
import { allowedIpError, buildIpAllowList, ipAllowed } from '../src/rules/ip.ts';

describe('key format', () => {
  it('is taapit_ + 32 base62 + 6 base62 checksum, and verifies', () => {
    const key = generateApiKey();
    expect(key).toMatch(/^taapit_[0-9A-Za-z]{38}$/);
    expect(isWellFormedApiKey(key)).toBe(true);
  });

  it('is random', () => {
    const keys = new Set(Array.from({ length: 2000 }, generateApiKey));
    expect(keys.size).toBe(2000);
  });

  it('refuses a changed character (checksum), a wrong prefix, wrong length and junk', () => {
    const key = generateApiKey();
    const body = key.slice(KEY_PREFIX.length);
    const swapped = body[5] === 'a' ? 'b' : 'a';
    expect(isWellFormedApiKey(`${KEY_PREFIX}${body.slice(0, 5)}${swapped}${body.slice(6)}`)).toBe(false);
    expect(isWellFormedApiKey(`${key.slice(0, -1)}${key.endsWith('0') ? '1' : '0'}`)).toBe(false);
    expect(isWellFormedApiKey(`tapit_${body}`)).toBe(false);
    expect(isWellFormedApiKey(key.slice(0, -1))).toBe(false);
    expect(isWellFormedApiKey(`${key}x`)).toBe(false);
    expect(isWellFormedApiKey('')).toBe(false);
    expect(isWellFormedApiKey(`${KEY_PREFIX}${'-'.repeat(38)}`)).toBe(false);
  });

  it('hashes with the pepper (HMAC-SHA256) and shows a hint that does not reveal the key', () => {
    const key = generateApiKey();
    expect(hashApiKey(key, 'p'.repeat(32))).toBe(hashApiKey(key, 'p'.repeat(32)));
    expect(hashApiKey(key, 'p'.repeat(32))).not.toBe(hashApiKey(key, 'q'.repeat(32)));
    expect(hashApiKey(key, 'p'.repeat(32))).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const hint = keyHint(key);
    expect(hint).toBe(`${key.slice(0, 11)}…${key.slice(-4)}`);
  });
});

describe('allowed IPs', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7', true],
    ['203.0.113.7', '203.0.113.8', false],
    ['10.0.0.0/8', '10.200.1.2', true],
    ['10.0.0.0/8', '11.0.0.1', false],
    ['10.0.0.0/8', '::ffff:10.1.2.3', true],
    ['2001:db8::/32', '2001:db8:1::5', true],
    ['2001:db8::/32', '2001:db9::5', false],
    ['::1', '::1', true],
  ])('rule %s, caller %s → %s', (rule, ip, allowed) => {
    expect(ipAllowed(buildIpAllowList([rule]), ip)).toBe(allowed);
  });

  it.each(['not-an-ip', '10.0.0.0/33', '2001:db8::/129', '10.0.0.1/8/1', '999.1.1.1'])('refuses %s', (entry) => {
    expect(allowedIpError(entry)).toMatch(/not an IPv4\/IPv6 address|invalid prefix/);
  });
});
