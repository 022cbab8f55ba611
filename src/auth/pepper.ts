import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, type Config } from '../config.ts';

/** Like API_KEY_PEPPER: shorter secrets are refused. */
export const MIN_PEPPER_LENGTH = 32;

export function pepperFile(config: Pick<Config, 'dataDir'>): string {
  return path.join(config.dataDir, 'api-key-pepper');
}

function notWritable(config: Pick<Config, 'dataDir'>, error: unknown): ConfigError {
  return new ConfigError(
    `DATA_DIR ${JSON.stringify(config.dataDir)} is not writable (${(error as NodeJS.ErrnoException).code ?? error}): the generated API key pepper is kept there; choose a writable DATA_DIR or set API_KEY_PEPPER.`,
  );
}

/**
 * The HMAC pepper: API_KEY_PEPPER, or outside production the one kept in DATA_DIR/api-key-pepper
 * (0600). Null when that file does not exist yet: only a database without keys may get a new one
 * (`createPepperFile`), since a new pepper silently invalidates every stored key.
 */
export function readPepper(config: Pick<Config, 'apiKeyPepper' | 'production' | 'dataDir'>): string | null {
  if (config.apiKeyPepper) return config.apiKeyPepper;
  if (config.production) {
    throw new ConfigError(
      'API_KEY_PEPPER is not set: production needs a stable secret of at least 32 characters (e.g. `openssl rand -base64 48`); without it no stored key can be verified.',
    );
  }
  const file = pepperFile(config);
  let pepper: string;
  try {
    pepper = fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw notWritable(config, error);
  }
  if (pepper.length < MIN_PEPPER_LENGTH) {
    throw new ConfigError(
      `${file} holds ${pepper.length} characters: the pepper must be at least ${MIN_PEPPER_LENGTH} characters; restore the file the keys were created with, or (no keys yet) delete it to have one generated.`,
    );
  }
  return pepper;
}

/** Generates DATA_DIR/api-key-pepper for a database that holds no key yet; refuses otherwise. */
export function createPepperFile(config: Pick<Config, 'dataDir'>, databaseHoldsKeys: boolean): string {
  const file = pepperFile(config);
  if (databaseHoldsKeys) {
    throw new ConfigError(
      `${file} is missing but the database already holds API keys: restore that file from a backup, or set API_KEY_PEPPER to the pepper the keys were created with (a new pepper would invalidate every key).`,
    );
  }
  try {
    fs.mkdirSync(config.dataDir, { recursive: true });
    // 'wx' so that two processes starting at once cannot overwrite each other's pepper.
    fs.writeFileSync(file, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw notWritable(config, error);
  }
  return fs.readFileSync(file, 'utf8').trim();
}
