import { parseArgs } from 'node:util';
import { UsageError, type Command, type OptionValues } from './command.ts';

// The options of one command, parsed by node's parseArgs, with our own messages: each says what
// is wrong and how to fix it, and is a UsageError (exit code 2).

const HELP_FLAGS = ['--help', '-h'];

/** Edit distance, to suggest the option meant by a typo. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** True when the arguments ask for help (before a `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((arg) => HELP_FLAGS.includes(arg));
}

/** The option a token names (`--email=a` → email, `-h` → help), or null for a value. */
function optionName(command: Command, token: string): string | null {
  if (token.startsWith('--')) return token.slice(2).split('=')[0]!;
  if (/^-[A-Za-z]$/.test(token)) {
    const short = token.slice(1);
    return Object.entries(command.options).find(([, spec]) => spec.short === short)?.[0] ?? short;
  }
  return null;
}

export function parseOptions(command: Command, args: readonly string[]): OptionValues {
  const known = command.options;
  const see = `see \`taapit-api help ${command.name}\``;
  const list = Object.keys(known).map((name) => `--${name}`);
  // A string option takes the next argument as its value even when it starts with a dash
  // (`--expires-in -5d`), so the value's own check explains what is wrong with it.
  const joined: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < args.length; i += 1) {
    const token = args[i]!;
    if (token === '--') {
      joined.push(...args.slice(i));
      break;
    }
    const name = optionName(command, token);
    if (name === null) {
      joined.push(token);
      continue;
    }
    const spec = known[name];
    if (spec && !spec.multiple && seen.has(name)) throw new UsageError(`--${name} is given twice: give it once`);
    seen.add(name);
    if (!spec) {
      const near = list.find((option) => distance(option, `--${name}`) <= 2);
      const options = list.length ? `its options are ${list.join(', ')}` : 'it takes no options';
      throw new UsageError(`unknown option ${token.split('=')[0]} for \`${command.name}\`${near ? ` (did you mean ${near}?)` : ''}: ${options}; ${see}`);
    }
    if (spec.type === 'boolean') {
      if (token.includes('=')) throw new UsageError(`--${name} takes no value: write just --${name}`);
      joined.push(token);
      continue;
    }
    if (token.includes('=')) {
      joined.push(token);
      continue;
    }
    const next = args[i + 1];
    if (next === undefined || next === '--' || (next.startsWith('-') && optionName(command, next) !== null && known[optionName(command, next)!])) {
      throw new UsageError(`--${name} needs a value, e.g. --${name} ${spec.value ?? 'VALUE'}; ${see}`);
    }
    joined.push(`--${name}=${next}`);
    i += 1;
  }
  const options = Object.fromEntries(
    Object.entries(known).map(([name, { type, multiple, short }]) => [name, { type, ...(multiple ? { multiple } : {}), ...(short ? { short } : {}) }]),
  );
  try {
    const { values, positionals } = parseArgs({ args: joined, options, strict: true, allowPositionals: true });
    if (positionals.length > 0) {
      const where = list.length ? `values go right after their option (${list.join(', ')})` : 'it takes no arguments';
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} for \`${command.name}\`: ${where}; ${see}`);
    }
    return values as OptionValues;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    // Whatever else parseArgs refuses (already guarded above), in its words but as a usage error.
    throw new UsageError(`${(error as Error).message}; ${see}`);
  }
}
