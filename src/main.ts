import { runCli } from './cli/index.ts';

// The entry point of `taapit-api` (bin/taapit-api.js, `npm start`): the commands live in src/cli/.
runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
}).then((code) => {
  // null: `serve` runs until a signal. 0: exit once the output is written. Else exit at once
  // (stderr is written synchronously), whatever a failed connection attempt left pending.
  if (code === null) return;
  if (code === 0) process.exitCode = 0;
  else process.exit(code);
});
