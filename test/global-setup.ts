import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedFerret, type EmbeddedServer } from '../src/db/embedded.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URI of the server under test; each test file appends its own database name. */
    mongoBase: { kind: 'ferretdb' | 'mongodb'; uri: string; port: number | null; dataDir: string | null };
  }
}

let embedded: EmbeddedServer | undefined;
let dataDir: string | undefined;

/** One FerretDB for the whole run (or MONGODB_URI when set). */
export async function setup(project: TestProject) {
  if (process.env.MONGODB_URI) {
    project.provide('mongoBase', { kind: 'mongodb', uri: process.env.MONGODB_URI, port: null, dataDir: null });
    return;
  }
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'taapit-test-'));
  const started = Date.now();
  embedded = await startEmbeddedFerret({ dataDir });
  console.log(`[global-setup] FerretDB on port ${embedded.port} in ${Date.now() - started} ms`);
  project.provide('mongoBase', { kind: 'ferretdb', uri: embedded.hostUri, port: embedded.port, dataDir });
}

export async function teardown() {
  await embedded?.stop();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
}
