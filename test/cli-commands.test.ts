import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey } from '../src/models/api-key.ts';
import { Membership } from '../src/models/workspace.ts';
import { toGlobalId } from '../src/schema/ids.ts';
import { runCli } from '../src/cli/index.ts';
import { createTestApp, gql, TEST_PEPPER, testDbUri, useTestDatabase, type TestApp } from './helpers.ts';

// The CLI's commands on the test database: usage and help, exit codes, ids, key list, workspaces.

const { db } = useTestDatabase();
let api: TestApp;
beforeAll(() => {
  api = createTestApp(db());
});
afterAll(async () => {
  await api.close();
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI's entry, in process, on the test database (test/cli.test.ts runs the real process). */
async function cli(...args: string[]): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const env = { NODE_ENV: 'test', MONGODB_URI: testDbUri(db().connection.name), API_KEY_PEPPER: TEST_PEPPER };
  const code = await runCli(args, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env, database: db() });
  return { code, stdout, stderr };
}

let counter = 0;
/** A new user through the CLI; its e-mail address. */
async function newUser(name = 'ada'): Promise<string> {
  counter += 1;
  const email = `${name}-${counter}@example.com`;
  const made = await cli('user', 'create', '--email', email, '--name', name);
  expect(made.code, made.stderr).toBe(0);
  return email;
}

/** A FULL key through the CLI: its secret. */
async function newKey(email: string, ...extra: string[]): Promise<string> {
  const made = await cli('key', 'create', '--email', email, '--name', 'k', '--permission', 'FULL', ...extra);
  expect(made.code, made.stderr).toBe(0);
  return made.stdout.trim();
}

describe('CLI help and usage', () => {
  it('`help` lists every command; `help <command>` and `<command> --help` print its usage with examples', async () => {
    const all = await cli('help');
    expect(all.code).toBe(0);
    for (const command of ['serve', 'user create', 'key create', 'key list', 'key deactivate', 'workspace create', 'workspace invite', 'seed-demo', 'recount', 'backup', 'restore']) {
      expect(all.stdout).toContain(command);
    }
    const help = await cli('help', 'key', 'create');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: taapit-api key create');
    expect(help.stdout).toContain('--expires-in');
    expect(help.stdout).toMatch(/Examples?:\n\s+taapit-api key create /);
    expect(help.stdout).not.toContain('seed-demo');
    const flag = await cli('key', 'create', '--help');
    expect(flag).toEqual(help);
    expect((await cli('key', 'list', '-h')).stdout).toContain('Usage: taapit-api key list');
  });

  it('an unknown command prints the usage line and exits 2; a group alone lists its commands', async () => {
    const unknown = await cli('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    expect(unknown.stderr).toContain('Usage: taapit-api <command> [options]');
    expect(unknown.stderr).toContain('taapit-api help');
    const helpUnknown = await cli('help', 'frobnicate');
    expect(helpUnknown.code).toBe(2);
    const group = await cli('key');
    expect(group.code).toBe(2);
    expect(group.stderr).toMatch(/key create[\s\S]*key list[\s\S]*key deactivate/);
  });
});

describe('CLI exit codes: 2 for a wrong command line, 1 when the data or the database refuses', () => {
  it('usage errors exit 2 with one line saying what to fix', async () => {
    const unknownOption = await cli('key', 'list', '--emial', 'a@b.co');
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain('--emial');
    expect(unknownOption.stderr).toContain('taapit-api help key list');
    const missing = await cli('key', 'list');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--email is required');
    const badEmail = await cli('user', 'create', '--email', 'not-an-address', '--name', 'X');
    expect(badEmail.code).toBe(2);
    expect(badEmail.stderr).toContain('"not-an-address" is not an e-mail address');
    const stray = await cli('recount', 'now');
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain('"now"');
  });

  it('--expires-in with a negative or malformed duration is our message, exit 2', async () => {
    const email = await newUser();
    for (const value of ['-5d', '0d', 'soon', '5 days']) {
      const bad = await cli('key', 'create', '--email', email, '--name', 'x', '--permission', 'FULL', '--expires-in', value);
      expect(bad.code, value).toBe(2);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
      expect(bad.stderr).toContain(`--expires-in "${value}" is invalid`);
      expect(bad.stderr).toMatch(/e\.g\. 30d/);
      expect(bad.stderr).not.toMatch(/ambiguous|parseArgs|ERR_/);
    }
    const missingValue = await cli('key', 'create', '--email', email, '--name', 'x', '--permission', 'FULL', '--expires-in');
    expect(missingValue.code).toBe(2);
    expect(missingValue.stderr).toContain('--expires-in needs a value');
  });

  it('not found and already existing are runtime errors: exit 1', async () => {
    const nobody = await cli('key', 'list', '--email', 'nobody@example.com');
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain('no user with e-mail nobody@example.com');
    const create = await cli('key', 'create', '--email', 'nobody@example.com', '--name', 'x', '--permission', 'FULL');
    expect(create.code).toBe(1);
    const missingKey = await cli('key', 'deactivate', '--id', toGlobalId('ApiKey', new Types.ObjectId()));
    expect(missingKey.code).toBe(1);
    expect(missingKey.stderr).toContain('no API key with id');
    const email = await newUser();
    const twice = await cli('user', 'create', '--email', email, '--name', 'again');
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('already exists');
  });
});

describe('CLI ids and key list', () => {
  it('key list has a header, status and expiry columns and the API’s ids; --json too; never a secret', async () => {
    const email = await newUser();
    const expiring = await newKey(email, '--expires-in', '30d');
    const forever = await newKey(email);
    const list = await cli('key', 'list', '--email', email);
    expect(list.code).toBe(0);
    const [header, ...rows] = list.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+STATUS\s+PERMISSION\s+HINT\s+EXPIRES\s+LAST USED\s+USES\s+NAME$/);
    expect(rows).toHaveLength(2);
    const viewer = await gql(api.app, '{ apiKeys(first: 5) { edges { node { id expiresAt } } } }', {}, { key: expiring });
    const ids = viewer.body.data.apiKeys.edges.map((edge: any) => edge.node.id);
    expect(rows.map((row) => row.split(/\s+/)[0])).toEqual(ids);
    const expiresAt = viewer.body.data.apiKeys.edges.find((edge: any) => edge.node.expiresAt).node.expiresAt as string;
    expect(rows.join('\n')).toContain(expiresAt.slice(0, 10));
    expect(rows.join('\n')).toMatch(/ACTIVE\s+FULL\s+taapit_\w{4}…\w{4}\s+never\s+/);
    for (const secret of [expiring, forever]) expect(list.stdout + list.stderr).not.toContain(secret);

    const json = await cli('key', 'list', '--email', email, '--json');
    expect(json.code).toBe(0);
    const keys = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(keys.map((key) => key.id)).toEqual(ids);
    expect(keys[0]).toMatchObject({ status: 'ACTIVE', permission: 'FULL', name: 'k' });
    expect(json.stdout).not.toMatch(/secretHash|taapit_\w{38}/);
  });

  it('ids: the API’s global ids and raw ObjectIds are accepted; a wrong kind of id says which kind is expected and where to find it', async () => {
    const email = await newUser();
    await newKey(email);
    await newKey(email);
    const ids = JSON.parse((await cli('key', 'list', '--email', email, '--json')).stdout).map((key: { id: string }) => key.id) as string[];
    expect((await cli('key', 'deactivate', '--id', ids[0]!)).code).toBe(0);
    const raw = String(new Types.ObjectId(Buffer.from(ids[1]!, 'base64').toString().split(':')[1]));
    expect((await cli('key', 'deactivate', '--id', raw)).code).toBe(0);

    const wrongKind = await cli('key', 'deactivate', '--id', toGlobalId('Link', new Types.ObjectId()));
    expect(wrongKind.code).toBe(2);
    expect(wrongKind.stderr).toContain('is a Link id, not an ApiKey id');
    expect(wrongKind.stderr).toContain('taapit-api key list');
    const garbage = await cli('key', 'deactivate', '--id', 'xyz');
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).not.toMatch(/ a ApiKey/);
    expect(garbage.stderr).toContain('an ApiKey id');
  });

  it('key deactivate on a deactivated key keeps its date, says so and exits 0', async () => {
    const email = await newUser();
    await newKey(email);
    const { id } = (JSON.parse((await cli('key', 'list', '--email', email, '--json')).stdout) as { id: string }[])[0]!;
    const first = await cli('key', 'deactivate', '--id', id!);
    expect(first.code).toBe(0);
    const keyId = Buffer.from(id!, 'base64').toString().split(':')[1];
    const before = (await ApiKey.findById(keyId).lean().exec())!.deactivatedAt;
    const second = await cli('key', 'deactivate', '--id', id!);
    expect(second.code).toBe(0);
    expect(second.stderr).toContain('already deactivated');
    expect((await ApiKey.findById(keyId).lean().exec())!.deactivatedAt).toEqual(before);
  });
});

describe('CLI workspaces', () => {
  it('workspace create makes the user its OWNER; the printed id is the API’s', async () => {
    const email = await newUser();
    const key = await newKey(email);
    const made = await cli('workspace', 'create', '--user', email, '--name', 'Acme');
    expect(made.code, made.stderr).toBe(0);
    const id = made.stdout.trim();
    const seen = await gql(api.app, '{ viewer { workspaces { role workspace { id name } } } }', {}, { key });
    expect(seen.body.data.viewer.workspaces).toEqual([{ role: 'OWNER', workspace: { id, name: 'Acme' } }]);

    const byId = await cli('user', 'create', '--email', `by-id-${counter}@example.com`, '--name', 'Bo');
    const userId = byId.stdout.trim();
    expect(userId).toBe(toGlobalId('User', Buffer.from(userId, 'base64').toString().split(':')[1]!));
    expect((await cli('workspace', 'create', '--user', userId, '--name', 'By id')).code).toBe(0);

    const nobody = await cli('workspace', 'create', '--user', 'nobody@example.com', '--name', 'X');
    expect(nobody.code).toBe(1);
    const noName = await cli('workspace', 'create', '--user', email, '--name', ' ');
    expect(noName.code).toBe(2);
  });

  it('workspace invite opens an invitation the invitee accepts with a key of their own', async () => {
    const owner = await newUser('owner');
    const ownerKey = await newKey(owner);
    const workspace = (await cli('workspace', 'create', '--user', owner, '--name', 'Team')).stdout.trim();
    const invitee = await newUser('bob');
    const inviteeKey = await newKey(invitee);

    const invited = await cli('workspace', 'invite', '--workspace', workspace, '--email', invitee.toUpperCase(), '--role', 'member');
    expect(invited.code, invited.stderr).toBe(0);
    const invitationId = invited.stdout.trim();
    expect(invited.stderr).toContain('acceptWorkspaceInvitation');
    const pending = await gql(api.app, '{ viewer { invitations { id role workspaceName invitedBy { email } } } }', {}, { key: inviteeKey });
    expect(pending.body.data.viewer.invitations).toEqual([{ id: invitationId, role: 'MEMBER', workspaceName: 'Team', invitedBy: { email: owner } }]);
    const accepted = await gql(
      api.app,
      'mutation($i: AcceptWorkspaceInvitationInput!) { acceptWorkspaceInvitation(input: $i) { __typename ... on WorkspaceMemberPayload { member { role } } } }',
      { i: { invitationId } },
      { key: inviteeKey },
    );
    expect(accepted.body.data.acceptWorkspaceInvitation).toEqual({ __typename: 'WorkspaceMemberPayload', member: { role: 'MEMBER' } });
    const ownerView = await gql(api.app, '{ viewer { workspaces { workspace { id } } } }', {}, { key: ownerKey });
    expect(ownerView.body.data.viewer.workspaces).toEqual([{ workspace: { id: workspace } }]);
    expect(await Membership.countDocuments({ workspaceId: Buffer.from(workspace, 'base64').toString().split(':')[1] })).toBe(2);

    const missing = await cli('workspace', 'invite', '--workspace', toGlobalId('Workspace', new Types.ObjectId()), '--email', 'x@example.com');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no workspace with id');
    const badRole = await cli('workspace', 'invite', '--workspace', workspace, '--email', 'x@example.com', '--role', 'KING');
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain('--role');
    const notOwner = await cli('workspace', 'invite', '--workspace', workspace, '--email', 'x@example.com', '--by', invitee);
    expect(notOwner.code).toBe(1);
    expect(notOwner.stderr).toContain('not an OWNER');
  });
});

describe('CLI backup and restore failures', () => {
  it('an unwritable --out, a missing or damaged --in and a database that is not empty exit 1, in one line', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taapit-cli-'));
    const unwritable = await cli('backup', '--out', path.join(dir, 'no', 'such', 'dir.jsonl'));
    expect(unwritable.code).toBe(1);
    expect(unwritable.stderr.trim()).toMatch(/^taapit-api: cannot write .*dir\.jsonl \(ENOENT\)/);
    const missing = await cli('restore', '--in', path.join(dir, 'missing.jsonl'));
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toMatch(/^taapit-api: cannot read .*missing\.jsonl \(ENOENT\)/);
    const file = path.join(dir, 'ok.jsonl');
    expect((await cli('backup', '--out', file)).code).toBe(0);
    const notEmpty = await cli('restore', '--in', file);
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.stderr).toContain('the database is not empty');
    expect((await cli('backup')).code).toBe(2);
  });
});
