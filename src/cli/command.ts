import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Actor } from '../core/actor.ts';
import type { Database } from '../db/connection.ts';

/**
 * The command line itself is wrong: unknown command or option, a missing or malformed value.
 * Exit code 2. Everything that fails once the command is understood (not found, already
 * exists, a file or the database refuses) is exit code 1.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A command that was understood but cannot be done; its message says what to do instead. Exit code 1. */
export class CommandError extends Error {
  override name = 'CommandError';
}

/** One option, as node's parseArgs takes it, plus its line in the help. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** The placeholder shown in the help (`E`, `ID`, `30d`), for string options. */
  value?: string;
  help: string;
}

export type OptionValues = Record<string, string | string[] | boolean | undefined>;

/** What a command may use: its output streams, the configuration, and the database on demand. */
export interface CliContext {
  /** One line on stdout: the command's result only (a secret, an id, a table), so scripts can read it. */
  out(line: string): void;
  /** One line on stderr: what happened, warnings, hints. */
  err(line: string): void;
  config: Config;
  logger: Logger;
  /** The pepper file's or API_KEY_PEPPER's; null while neither exists. */
  knownPepper: string | null;
  /** Opens the database (MONGODB_URI, or the embedded one under DATA_DIR, shared with a running server). */
  openDatabase(): Promise<Database>;
  /** Runs `run` on the database with indexes and migrations in place, then closes it. */
  inDatabase<T>(run: (session: Session) => Promise<T>): Promise<T>;
}

/** The database session of one command. */
export interface Session {
  /** The trusted keyless actor: no key bounds it (whoever runs the CLI has the database already). */
  actor: Actor;
  /** The keyless actor acting as one user, with every role of theirs (workspace create, invite). */
  as(userId: string): Actor;
  pepper: string;
}

export interface Command {
  /** The words that name it: `key create`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** What follows `taapit-api <name>` in the usage line. */
  synopsis: string;
  /** A few sentences after the usage line: what it prints, on which stream. */
  description: string;
  options: Record<string, OptionSpec>;
  examples: string[];
  run(context: CliContext, values: OptionValues): Promise<void>;
}

/** A required string option. */
export function required(values: OptionValues, name: string, example: string): string {
  const value = values[name];
  if (typeof value !== 'string' || !value.trim()) throw new UsageError(`--${name} is required, e.g. --${name} ${example}`);
  return value;
}

/** An ISO date-time without milliseconds, or `fallback` when there is none. */
export function isoOr(date: Date | null | undefined, fallback: string): string {
  return date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : fallback;
}
