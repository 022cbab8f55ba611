import { seedDemo } from '../core/demo.ts';
import { BackupError, pepperCheck, restoreBackup, writeBackup } from '../db/backup.ts';
import { findRunningEmbedded } from '../db/embedded.ts';
import { runMigrations } from '../db/migrations.ts';
import { recountLinkCounters } from '../db/recount.ts';
import { CommandError, required, type Command } from './command.ts';

/** A bad, damaged or unwritable backup file, or a database that is not empty: the command cannot be done (exit 1). */
function backupFailure(error: unknown): never {
  throw error instanceof BackupError ? new CommandError(error.message) : error;
}

const seconds = (started: number) => ((performance.now() - started) / 1000).toFixed(1);

export const maintenanceCommands: Command[] = [
  {
    name: 'seed-demo',
    summary: 'Create the demo user and workspace (once) and print a new FULL key',
    synopsis: '',
    description: 'Creates demo@taapit.local and its "Demo workspace" if missing, and a new FULL key for it: stdout carries the secret alone, shown only this once.',
    options: {},
    examples: ['taapit-api seed-demo', 'KEY=$(taapit-api seed-demo)'],
    async run(cli) {
      const created = await cli.inDatabase(({ pepper }) => seedDemo(pepper));
      cli.err('demo user demo@taapit.local with a "Demo workspace"; new FULL key (shown only once):');
      cli.out(created.secret);
    },
  },
  {
    name: 'recount',
    summary: 'Recompute the link counters behind totalCount',
    synopsis: '',
    description: 'Recounts every link counter from the links themselves, e.g. after a mutation was cut off midway.',
    options: {},
    examples: ['taapit-api recount'],
    async run(cli) {
      const written = await cli.inDatabase(() => recountLinkCounters({ missingOnly: false }));
      cli.err(`recounted ${written} link counter(s)`);
    },
  },
  {
    name: 'backup',
    summary: 'Dump every collection to a file (JSON lines; gzip if it ends in .gz)',
    synopsis: '--out FILE',
    description: [
      'Writes every document of the database to FILE (mode 0600): key hashes included, the pepper not (back up',
      'api-key-pepper or API_KEY_PEPPER separately). With a server running the dump is not a single point in time.',
    ].join('\n'),
    options: { out: { type: 'string', value: 'FILE', help: 'where to write; .gz compresses' } },
    examples: ['taapit-api backup --out taapit-$(date +%F).jsonl.gz'],
    async run(cli, values) {
      const out = required(values, 'out', 'taapit.jsonl.gz');
      const { config } = cli;
      // Only a database no server shares is quiet for the whole dump.
      const quiescent = !config.mongodbUri && !(await findRunningEmbedded(config.dataDir));
      const started = performance.now();
      const db = await cli.openDatabase();
      try {
        const header = await writeBackup(db.connection.db!, out, { quiescent, pepper: cli.knownPepper }).catch(backupFailure);
        const total = Object.values(header.counts).reduce((a, b) => a + b, 0);
        cli.err(`backed up ${total} document(s) of ${header.collections.length} collection(s) to ${out} in ${seconds(started)} s`);
        if (!quiescent) {
          cli.err('note: the database was in use (a running server or MONGODB_URI): each document is as it was when read, but writes made during the dump may be partly in it; stop the server for a consistent backup.');
        }
        cli.err('the backup holds key hashes and all data: keep it as safe as the database; it does not hold the pepper (api-key-pepper / API_KEY_PEPPER), back that up separately.');
      } finally {
        await db.close();
      }
    },
  },
  {
    name: 'restore',
    summary: 'Load a backup into an empty database (--force: delete everything first)',
    synopsis: '--in FILE [--force]',
    description: [
      'Checks the whole file first, then loads it into an empty database. Refused while a server runs on the same',
      'DATA_DIR. Warns when the pepper here is missing or not the one the backed-up keys were made with.',
    ].join('\n'),
    options: {
      in: { type: 'string', value: 'FILE', help: 'a file made by `taapit-api backup`' },
      force: { type: 'boolean', help: 'delete everything in the database first' },
    },
    examples: ['taapit-api restore --in taapit-2026-11-29.jsonl.gz', 'DATA_DIR=./data-copy taapit-api restore --in taapit.jsonl.gz --force'],
    async run(cli, values) {
      const file = required(values, 'in', 'taapit.jsonl.gz');
      const { config } = cli;
      if (!config.mongodbUri && (await findRunningEmbedded(config.dataDir))) {
        throw new CommandError(`a server is running on DATA_DIR ${config.dataDir}: stop it before restoring (it caches keys and links and keeps writing counts).`);
      }
      const started = performance.now();
      const db = await cli.openDatabase();
      try {
        const header = await restoreBackup(db.connection.db!, file, { force: values.force === true }).catch(backupFailure);
        await runMigrations(cli.logger, { shortDomain: config.shortDomain });
        const total = Object.values(header.counts).reduce((a, b) => a + b, 0);
        cli.err(`restored ${total} document(s) of ${header.collections.length} collection(s) from ${file} (made ${header.createdAt}) in ${seconds(started)} s`);
        const pepper = cli.knownPepper;
        if (header.pepperCheck && !pepper) {
          cli.err(`warning: no pepper here: copy api-key-pepper from the backed-up DATA_DIR to ${config.dataDir} or set API_KEY_PEPPER; without it no restored key verifies and the server refuses to start.`);
        } else if (header.pepperCheck && pepperCheck(pepper) !== header.pepperCheck) {
          cli.err('warning: this pepper is not the one the backed-up keys were made with: no restored key will verify; use the backed-up api-key-pepper or API_KEY_PEPPER.');
        }
      } finally {
        await db.close();
      }
    },
  },
];
