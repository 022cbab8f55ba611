import pino from 'pino';
import { readPepper } from '../auth/pepper.ts';
import { loadConfig } from '../config.ts';
import { createActor } from '../core/actor.ts';
import { openDatabase, type Database } from '../db/connection.ts';
import { runMigrations } from '../db/migrations.ts';
import { ValidationError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { ensureIndexes } from '../models/index.ts';
import { pepperFor } from '../server.ts';
import { createServices } from '../services.ts';
import { parseOptions, wantsHelp } from './args.ts';
import { UsageError, type CliContext, type Command } from './command.ts';
import { keyCommands } from './keys.ts';
import { maintenanceCommands } from './maintenance.ts';
import { serve } from './serve.ts';
import { userCommands, workspaceCommands } from './workspaces.ts';

const serveCommand: Command = {
  name: 'serve',
  summary: 'Serve the API and GraphiQL (the default command)',
  synopsis: '',
  description:
    'Serves http://HOST:PORT/graphql (127.0.0.1:4000 by default) until SIGTERM or Ctrl+C, then shuts down cleanly. Configured by environment variables (PORT, HOST, MONGODB_URI, DATA_DIR, ...: see the README).',
  options: {},
  examples: ['taapit-api serve', 'PORT=8080 HOST=0.0.0.0 taapit-api serve'],
  run: (cli) => serve(cli.config),
};

/** Every command, in the order `help` lists them. */
export const COMMANDS: Command[] = [serveCommand, ...userCommands, ...keyCommands, ...workspaceCommands, ...maintenanceCommands];

const USAGE_LINE = 'Usage: taapit-api <command> [options]';

function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    USAGE_LINE,
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Run `taapit-api help <command>` (or `taapit-api <command> --help`) for its options and examples.',
    'Exit codes: 0 done; 1 the command could not be done (not found, already exists, a file or the database',
    'refused or is unreachable); 2 the command line is wrong (unknown command or option, missing or invalid value).',
    'Without MONGODB_URI the embedded FerretDB under DATA_DIR is used (shared with a running server).',
  ].join('\n');
}

function commandHelp(command: Command): string {
  const options = Object.entries(command.options).map(([name, spec]) => [
    `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`,
    spec.help,
  ]);
  options.push(['-h, --help', 'this help']);
  const width = Math.max(...options.map(([left]) => left!.length)) + 2;
  return [
    `Usage: taapit-api ${command.name}${command.synopsis ? ` ${command.synopsis}` : ''}`,
    '',
    command.description,
    '',
    'Options:',
    ...options.map(([left, help]) => `  ${left!.padEnd(width)}${help}`),
    '',
    'Examples:',
    ...command.examples.map((example) => `  ${example}`),
  ].join('\n');
}

function groupHelp(group: string, commands: Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    `Usage: taapit-api ${group} <${commands.map((c) => c.name.slice(group.length + 1)).join('|')}> [options]`,
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    `Run \`taapit-api help ${group} <command>\` for its options and examples.`,
  ].join('\n');
}

function unknownCommand(words: string[]): UsageError {
  return new UsageError(
    `unknown command ${JSON.stringify(words.join(' '))}\n${USAGE_LINE}\nCommands: ${COMMANDS.map((c) => c.name).join(', ')}.\nRun \`taapit-api help\` for details.`,
  );
}

/** What the leading words name: a command (with the arguments after its name), a group of commands, or nothing. */
function resolve(words: string[]): { command: Command; rest: number } | { group: string; commands: Command[] } | null {
  for (const length of [2, 1]) {
    const command = COMMANDS.find((c) => c.name === words.slice(0, length).join(' '));
    if (command && words.length >= length) return { command, rest: length };
  }
  const commands = COMMANDS.filter((c) => words[0] !== undefined && c.name.startsWith(`${words[0]} `));
  return commands.length > 0 ? { group: words[0]!, commands } : null;
}

/** The option a core ValidationError's field (`cli.name`, `input.workspaceIds.0`) came from. */
function optionOf(field: string): string {
  const aliases: Record<string, string> = { workspaceIds: 'workspace', scopes: 'scope', expiresAt: 'expires-in' };
  const name = field.split('.').filter((part) => !/^\d+$/.test(part)).at(-1) ?? field;
  return `--${aliases[name] ?? name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Exit code 2 for a command line that is wrong, 1 for anything that fails once it is understood. */
function failure(error: unknown): { code: 1 | 2; message: string } {
  if (error instanceof UsageError) return { code: 2, message: error.message };
  if (error instanceof ValidationError) return { code: 2, message: `${optionOf(error.field)}: ${error.message}` };
  return { code: 1, message: error instanceof Error ? error.message : String(error) };
}

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  /** A database already open (tests): commands run on it and leave it open. */
  database?: Database;
}

function context(io: CliIo): CliContext {
  const config = loadConfig(io.env);
  // Quiet unless asked: start-up notes (migrations) would bury the command's own lines. Logs go to stderr.
  const logger = createLogger(io.env.LOG_LEVEL ? config.logLevel : 'warn', { write: (line: string) => io.stderr(line) } as pino.DestinationStream);
  const knownPepper = readPepper(config);
  const open = (): Promise<Database> => (io.database ? Promise.resolve({ ...io.database, close: async () => {} }) : openDatabase(config));
  return {
    out: (line) => io.stdout(`${line}\n`),
    err: (line) => io.stderr(`${line}\n`),
    config,
    logger,
    knownPepper,
    openDatabase: open,
    async inDatabase(run) {
      const db = await open();
      try {
        const pepper = await pepperFor(config, knownPepper);
        await ensureIndexes();
        await runMigrations(logger, { shortDomain: config.shortDomain });
        const services = createServices(config, logger, db, pepper);
        return await run({ actor: createActor(services, null), as: (userId) => createActor(services, null, userId), pepper });
      } finally {
        await db.close();
      }
    },
  };
}

/**
 * Runs one command line; resolves its exit code, or null for `serve`, which keeps running.
 * Never throws: every failure is one line on stderr (a stack trace only with DEBUG set).
 */
export async function runCli(argv: string[], io: CliIo): Promise<number | null> {
  const print = (text: string) => io.stdout(`${text}\n`);
  try {
    // The leading words name the command; options start at the first argument with a dash.
    const firstOption = argv.findIndex((arg) => arg.startsWith('-'));
    const words = firstOption < 0 ? argv : argv.slice(0, firstOption);
    if (words[0] === 'help') {
      const topic = words.slice(1);
      if (argv.length > words.length) throw new UsageError('`help` takes command words only, e.g. `taapit-api help key create`');
      const found = topic.length ? resolve(topic) : null;
      if (topic.length === 0) print(globalHelp());
      else if (found && 'command' in found && found.rest === topic.length) print(commandHelp(found.command));
      else if (found && 'group' in found && topic.length === 1) print(groupHelp(found.group, found.commands));
      else throw unknownCommand(topic);
      return 0;
    }
    if (words.length === 0 && wantsHelp(argv)) {
      print(globalHelp());
      return 0;
    }
    const found = words.length === 0 ? { command: serveCommand, rest: 0 } : resolve(words);
    if (!found) throw unknownCommand(words);
    if ('group' in found) {
      if (wantsHelp(argv) && words.length === 1) {
        print(groupHelp(found.group, found.commands));
        return 0;
      }
      if (words.length > 1) throw unknownCommand(words);
      throw new UsageError(`\`${found.group}\` needs a command:\n${groupHelp(found.group, found.commands)}`);
    }
    const { command, rest } = found;
    if (wantsHelp(argv)) {
      print(commandHelp(command));
      return 0;
    }
    const values = parseOptions(command, argv.slice(rest));
    await command.run(context(io), values);
    return command === serveCommand ? null : 0;
  } catch (error) {
    const { code, message } = failure(error);
    io.stderr(`taapit-api: ${message}\n`);
    if (io.env.DEBUG && error instanceof Error) io.stderr(`${error.stack ?? ''}\n`);
    return code;
  }
}
