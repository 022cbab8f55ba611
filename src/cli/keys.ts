import { createApiKey, deactivateApiKey, listApiKeys, requireApiKey, type ApiKeyDoc } from '../core/api-keys.ts';
import type { Position } from '../core/listing.ts';
import { NotFoundError } from '../errors.ts';
import { shownDomain } from '../rules/links.ts';
import { ACCESS_LEVELS, PERMISSIONS, RESOURCES, type Permission, type Scope } from '../rules/permissions.ts';
import { CommandError, isoOr, required, UsageError, type Command } from './command.ts';
import { findUser, parseId, showId } from './ids.ts';

const UNITS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
/** Beyond this a lifetime is a mistake (and past year 275760 not a date at all). */
const MAX_DAYS = 36_500;

/** `30d`, `12h`, `90m`, `3600s` as milliseconds; anything else (negative, zero, no unit) is a UsageError. */
export function parseDuration(text: string, option = 'expires-in'): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNITS[match[2] as keyof typeof UNITS] * 1000 : NaN;
  if (!(ms > 0) || ms > MAX_DAYS * UNITS.d * 1000) {
    throw new UsageError(
      `--${option} ${JSON.stringify(text)} is invalid: give how long the key lives as a whole number above 0 followed by s, m, h or d (at most ${MAX_DAYS}d), e.g. 30d or 12h`,
    );
  }
  return ms;
}

function parseScope(text: string): Scope {
  const [resource, access] = text.toUpperCase().split(':');
  if (!RESOURCES.includes(resource as never) || !ACCESS_LEVELS.includes(access as never)) {
    throw new UsageError(`--scope ${JSON.stringify(text)} is invalid: use RESOURCE:ACCESS with RESOURCE in ${RESOURCES.join(', ')} and ACCESS READ or WRITE, e.g. LINKS:WRITE`);
  }
  return { resource, access } as Scope;
}

/** Rows per query when the CLI lists every key of a user. */
const LIST_CHUNK = 100;

/** What the table's STATUS column says: an active key past its expiry no longer works. */
function shownStatus(key: ApiKeyDoc, now: Date): string {
  return key.status === 'ACTIVE' && key.expiresAt && key.expiresAt <= now ? 'EXPIRED' : key.status;
}

/** Columns padded to their widest cell; the last one (the free-text name) is not padded. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column < row.length - 1 ? cell.padEnd(widths[column]!) : cell)).join('  ').trimEnd());
}

/** A key as `key list --json` shows it: the API's field names and ids, no secret or hash. */
function keyJson(key: ApiKeyDoc, shortDomain: string) {
  return {
    id: showId('ApiKey', key._id),
    name: key.name,
    hint: key.hint,
    permission: key.permission,
    status: key.status,
    scopes: key.scopes.map(({ resource, access }) => ({ resource, access })),
    workspaceIds: key.workspaces.map((id) => showId('Workspace', id)),
    expiresAt: key.expiresAt?.toISOString() ?? null,
    allowedIps: key.allowedIps,
    rateLimit: key.rateLimit ?? null,
    allowedDestinations: key.allowedDestinations ?? [],
    allowedDomains: (key.allowedDomains ?? []).map((pattern) => shownDomain(pattern, shortDomain)),
    idleTimeoutDays: key.idleTimeoutDays ?? null,
    createdAt: key.createdAt.toISOString(),
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    usageCount: key.usageCount,
    deactivatedAt: key.deactivatedAt?.toISOString() ?? null,
  };
}

export const keyCommands: Command[] = [
  {
    name: 'key create',
    summary: 'Create an API key; prints only the secret on stdout',
    synopsis: '--email E --name N --permission FULL|READ_ONLY|LIMITED [--scope RESOURCE:ACCESS ...] [--workspace ID ...] [--expires-in 30d]',
    description:
      'Creates an API key for a user. stdout carries the secret alone, shown this once and never again; stderr says what was created and its id.',
    options: {
      email: { type: 'string', value: 'E', help: "the key's user (created with `taapit-api user create`)" },
      name: { type: 'string', value: 'N', help: 'a label to recognize the key by, 1 to 100 characters' },
      permission: { type: 'string', value: 'P', help: 'FULL (everything), READ_ONLY, or LIMITED (only its --scope)' },
      scope: { type: 'string', multiple: true, value: 'RESOURCE:ACCESS', help: `for LIMITED: ${RESOURCES.join(', ')} with READ or WRITE; repeat it` },
      workspace: { type: 'string', multiple: true, value: 'ID', help: "restrict the key to this workspace of the user's; repeat it" },
      'expires-in': { type: 'string', value: '30d', help: 'the key stops working after this long: a number and s, m, h or d' },
      'allowed-destinations': {
        type: 'string',
        multiple: true,
        value: 'HOST',
        help: "links made with the key may only point to this host (example.com) or hosts below it (*.example.com); repeat it",
      },
      'allowed-domains': { type: 'string', multiple: true, value: 'HOST', help: 'the key may only write links on this short-link domain (or pattern); repeat it' },
      'idle-timeout-days': { type: 'string', value: 'DAYS', help: 'the key stops working after this many days without use (1 to 3650)' },
    },
    examples: [
      'taapit-api key create --email ada@example.com --name laptop --permission FULL',
      'taapit-api key create --email ada@example.com --name ci --permission LIMITED --scope LINKS:WRITE --scope ANALYTICS:READ --expires-in 90d',
      'KEY=$(taapit-api key create --email ada@example.com --name script --permission READ_ONLY)',
    ],
    async run(cli, values) {
      const email = required(values, 'email', 'ada@example.com');
      const name = required(values, 'name', 'laptop');
      const permission = required(values, 'permission', 'FULL').toUpperCase() as Permission;
      if (!PERMISSIONS.includes(permission)) throw new UsageError(`--permission ${JSON.stringify(values.permission)} is invalid: use one of ${PERMISSIONS.join(', ')}`);
      const scopes = ((values.scope as string[] | undefined) ?? []).map(parseScope);
      const workspaceIds = ((values.workspace as string[] | undefined) ?? []).map((w) => parseId(w, 'Workspace', 'workspace'));
      const expiresIn = values['expires-in'] as string | undefined;
      const expiresAt = expiresIn === undefined ? null : new Date(Date.now() + parseDuration(expiresIn));
      const allowedDestinations = (values['allowed-destinations'] as string[] | undefined) ?? [];
      const allowedDomains = (values['allowed-domains'] as string[] | undefined) ?? [];
      const idleText = values['idle-timeout-days'] as string | undefined;
      // Not a whole number: passed on as NaN, which the key's validation refuses with its own message.
      const idleTimeoutDays = idleText === undefined ? null : /^\d+$/.test(idleText.trim()) ? Number(idleText) : Number.NaN;
      const created = await cli.inDatabase(async ({ actor }) => {
        const user = await findUser(email, 'email');
        return createApiKey(actor, { userId: user._id, name, permission, scopes, workspaceIds, expiresAt, allowedDestinations, allowedDomains, idleTimeoutDays });
      });
      const { doc } = created;
      cli.err(`created ${doc.permission} key "${doc.name}" (${doc.hint}, id ${showId('ApiKey', doc._id)}); the secret below is shown only once:`);
      cli.out(created.secret);
    },
  },
  {
    name: 'key list',
    summary: "List a user's keys (never a secret)",
    synopsis: '--email E [--json]',
    description:
      "Lists a user's keys, newest first, one per line under a header: id (the API's), status (ACTIVE, EXPIRED or DEACTIVATED), permission, hint, expiry, last use, use count and name. --json prints them as a JSON array with the API's field names instead.",
    options: {
      email: { type: 'string', value: 'E', help: "the keys' user" },
      json: { type: 'boolean', help: 'print a JSON array instead of the table' },
    },
    examples: ['taapit-api key list --email ada@example.com', "taapit-api key list --email ada@example.com --json | jq -r '.[].id'"],
    async run(cli, values) {
      const email = required(values, 'email', 'ada@example.com');
      const keys = await cli.inDatabase(async ({ actor }) => {
        const user = await findUser(email, 'email');
        const list = listApiKeys(actor, { userId: user._id });
        const all: ApiKeyDoc[] = [];
        for (let after: Position | null = null; ; ) {
          const chunk = await list.page({ after, before: null, limit: LIST_CHUNK, backward: false });
          all.push(...chunk);
          if (chunk.length < LIST_CHUNK) return all;
          after = list.positionOf(chunk.at(-1)!);
        }
      });
      if (values.json) {
        cli.out(JSON.stringify(keys.map((key) => keyJson(key, cli.config.shortDomain)), null, 2));
        return;
      }
      if (keys.length === 0) {
        cli.err(`${email} has no keys: create one with \`taapit-api key create\``);
        return;
      }
      const now = new Date();
      const rows = keys.map((key) => [
        showId('ApiKey', key._id),
        shownStatus(key, now),
        key.permission,
        key.hint,
        isoOr(key.expiresAt, 'never'),
        isoOr(key.lastUsedAt, 'never'),
        String(key.usageCount),
        key.name,
      ]);
      for (const line of table([['ID', 'STATUS', 'PERMISSION', 'HINT', 'EXPIRES', 'LAST USED', 'USES', 'NAME'], ...rows])) cli.out(line);
    },
  },
  {
    name: 'key deactivate',
    summary: 'Deactivate a key for good',
    synopsis: '--id ID',
    description:
      'Deactivates a key: every running server refuses it within a second. A key already deactivated stays as it is (its date does not move), and the command says so.',
    options: { id: { type: 'string', value: 'ID', help: 'the key, as `taapit-api key list` or the API shows it (or its raw 24-hex id)' } },
    examples: ['taapit-api key deactivate --id QXBpS2V5OjY1ZjBhYmNkZWYwMTIzNDU2Nzg5YWJjZA=='],
    async run(cli, values) {
      const text = required(values, 'id', 'ID');
      const id = parseId(text, 'ApiKey', 'id');
      const { key, already } = await cli.inDatabase(async ({ actor }) => {
        const found = await requireApiKey(actor, id).catch((error: unknown) => {
          throw error instanceof NotFoundError ? new CommandError(`no API key with id ${text}: \`taapit-api key list --email E\` lists a user's keys`) : error;
        });
        if (found.status === 'DEACTIVATED') return { key: found, already: true };
        return { key: await deactivateApiKey(actor, id), already: false };
      });
      if (already) cli.err(`key ${key.hint} (${key.name}) was already deactivated on ${isoOr(key.deactivatedAt, 'an unknown date')}; nothing changed`);
      else cli.err(`deactivated key ${key.hint} (${key.name}); every running server refuses it within a second`);
    },
  },
];
