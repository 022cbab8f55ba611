#!/usr/bin/env node
// Runs the build (`npm run build` → dist/) when there is one, so production needs no TypeScript
// runner; otherwise the TypeScript sources through tsx. A build older than a source file would run
// code that is no longer there: then the sources run, and a line on stderr says so.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const built = path.join(root, 'dist/main.js');
const sources = path.join(root, 'src');

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The newest modification time under src/, or undefined when there are no sources (a deployed build). */
function newestSource() {
  if (mtime(sources) === undefined) return undefined;
  let newest = 0;
  for (const name of fs.readdirSync(sources, { recursive: true })) {
    newest = Math.max(newest, mtime(path.join(sources, name)) ?? 0);
  }
  return newest;
}

const builtAt = mtime(built);
const sourcesAt = builtAt === undefined ? undefined : newestSource();
if (builtAt !== undefined && (sourcesAt === undefined || sourcesAt <= builtAt)) {
  await import(pathToFileURL(built).href);
} else {
  if (builtAt !== undefined) {
    process.stderr.write('taapit-api: dist/ is older than src/, running the sources (`npm run build` updates dist/)\n');
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(path.join(sources, 'main.ts')).href);
}
