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
    ['TRUST_PROXY', 'yes', /TRUST_PROXY="yes" is invalid: expected false, true \(one proxy\), a hop count such as 2, or a comma-separated list of proxy IPs/],
    ['TRUST_PROXY', '10.0.0.0/40', /TRUST_PROXY="10.0.0.0\/40" is invalid/],
    ['TRUST_PROXY', 'loopback, proxy.internal', /TRUST_PROXY="loopback, proxy.internal" is invalid: .*"proxy.internal"/],
    ['TRUST_PROXY', '-1', /TRUST_PROXY="-1" is invalid/],
    ['TRUST_PROXY', 'all', /TRUST_PROXY="all" is invalid/],
    ['CORS_ORIGINS', 'app.example', /CORS_ORIGINS="app.example" is invalid: expected \* or a comma-separated list of origins/],
    ['CORS_ORIGINS', 'https://app.example/', /CORS_ORIGINS="https:\/\/app.example\/" is invalid/],
    ['CORS_ORIGINS', '*, https://app.example', /CORS_ORIGINS="\*, https:\/\/app.example" is invalid/],
    ['ANONYMOUS_RATE_LIMIT_PER_MINUTE', '0', /ANONYMOUS_RATE_LIMIT_PER_MINUTE="0" is invalid: expected a whole number/],
    ['AUTH_FAILURE_LIMIT_PER_MINUTE', 'many', /AUTH_FAILURE_LIMIT_PER_MINUTE="many" is invalid: expected a whole number/],
  ])('%s=%s stops start-up with one line naming it', (name, value, message) => {
    const attempt = () => loadConfig({ [name]: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });

  it('TRUST_PROXY: false, true (exactly one hop, never every hop), a hop count or a list of proxies', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '0' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toEqual({ hops: 1 });
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toEqual({ hops: 2 });
    expect(loadConfig({ TRUST_PROXY: '10.0.0.1, 10.1.0.0/16,loopback, ::1' }).trustProxy).toEqual({
      proxies: ['10.0.0.1', '10.1.0.0/16', 'loopback', '::1'],
    });
  });

  it('CORS_ORIGINS and the anonymous and failed-authentication limits', () => {
    const defaults = loadConfig({});
    expect(defaults.corsOrigins).toBe('*');
    expect(defaults.anonymousRateLimitPerMinute).toBe(120);
    expect(defaults.authFailureLimitPerMinute).toBe(20);
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example, http://localhost:5173' }).corsOrigins).toEqual([
      'https://app.example',
      'http://localhost:5173',
    ]);
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
