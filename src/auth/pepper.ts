import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, type Config } from '../config.ts';

/**
 * The HMAC pepper: API_KEY_PEPPER, or outside production a value generated once and kept
 * in DATA_DIR/api-key-pepper (0600). Losing it invalidates every stored key.
 */
export function resolvePepper(config: Pick<Config, 'apiKeyPepper' | 'production' | 'dataDir'>): string {
  if (config.apiKeyPepper) return config.apiKeyPepper;
  if (config.production) {
    throw new ConfigError(
      'API_KEY_PEPPER is not set: production needs a stable secret of at least 32 characters (e.g. `openssl rand -base64 48`); without it no stored key can be verified.',
    );
  }
  const file = path.join(config.dataDir, 'api-key-pepper');
  const notWritable = (error: unknown) =>
    new ConfigError(
      `DATA_DIR ${JSON.stringify(config.dataDir)} is not writable (${(error as NodeJS.ErrnoException).code ?? error}): the generated API key pepper is kept there; choose a writable DATA_DIR or set API_KEY_PEPPER.`,
    );
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw notWritable(error);
  }
  try {
    fs.mkdirSync(config.dataDir, { recursive: true });
    // 'wx' so that two processes starting at once cannot overwrite each other's pepper.
    fs.writeFileSync(file, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw notWritable(error);
  }
  return fs.readFileSync(file, 'utf8').trim();
}
