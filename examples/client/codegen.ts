import type { CodegenConfig } from '@graphql-codegen/cli';

// Paths are relative to the repository root: run it as `npm run codegen:client`.
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: 'examples/client/operations.graphql',
  generates: {
    'examples/client/gql/': {
      preset: 'client',
      // No fragments here, so no fragment-masking helpers.
      presetConfig: { fragmentMasking: false },
      config: {
        // The repository's tsconfig (verbatimModuleSyntax, NodeNext) wants type-only imports with extensions.
        useTypeImports: true,
        importExtension: '.ts',
        // Every custom scalar must be mapped, so a new one fails codegen instead of becoming `any`.
        strictScalars: true,
        scalars: { DateTime: 'string', JSON: 'unknown' },
      },
    },
  },
};

export default config;
