import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('config', () => {
  it('has working defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(4000);
    expect(config.keyCacheTtlMs).toBe(5000);
    expect(config.introspection).toBe('public');
    expect(config.mongodbUri).toBeUndefined();
    expect(config.shortDomain).toBe('localhost:4000');
  });

  it.each([
    ['PORT', 'abc', /PORT="abc" is invalid: expected a whole number from 0 to 65535/],
    ['PORT', '70000', /PORT="70000" is invalid/],
    ['KEY_CACHE_TTL_MS', '-1', /KEY_CACHE_TTL_MS="-1" is invalid: expected a whole number/],
    ['INTROSPECTION', 'maybe', /INTROSPECTION="maybe" is invalid: expected one of public, key, off/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL="loud" is invalid: expected one of fatal, error/],
    ['RATE_LIMIT_STORE', 'redis', /RATE_LIMIT_STORE="redis" is invalid: expected one of memory, mongo/],
    ['SHORT_DOMAIN', 'not a host', /SHORT_DOMAIN="not a host" is invalid/],
    ['TRUST_PROXY', 'yes', /TRUST_PROXY="yes" is invalid/],
  ])('%s=%s stops start-up with one line naming it', (name, value, message) => {
    const attempt = () => loadConfig({ [name]: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });

  it('never echoes a MONGODB_URI or pepper that may hold secrets', () => {
    expect(() => loadConfig({ MONGODB_URI: 'postgres://user:hunter2@db' })).toThrow(/MONGODB_URI is invalid/);
    try {
      loadConfig({ MONGODB_URI: 'postgres://user:hunter2@db' });
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
    expect(() => loadConfig({ API_KEY_PEPPER: 'short-secret' })).toThrow(/API_KEY_PEPPER is invalid: expected at least 32/);
  });
});
