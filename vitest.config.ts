import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // graphql ships ESM and CJS builds; force one copy so types created by Pothos and yoga match.
    alias: { graphql: fileURLToPath(new URL('./node_modules/graphql/index.js', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Each file runs in its own process with its own database on the shared FerretDB.
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
