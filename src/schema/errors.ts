import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { builder } from './builder.ts';

export const ErrorInterface = builder.interfaceRef<Error & { code: string }>('Error').implement({
  description: 'A domain error returned as a member of a mutation result union.',
  fields: (t) => ({
    message: t.exposeString('message', { description: 'What went wrong and how to fix it.' }),
    code: t.exposeString('code', { description: 'A stable machine-readable code, e.g. BAD_USER_INPUT or NOT_FOUND.' }),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'An input value was rejected; nothing was written.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ValidationError,
  fields: (t) => ({
    field: t.exposeString('field', { description: 'The input field at fault, as a dotted path (e.g. `input.url`).' }),
  }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'The target does not exist or belongs to a workspace this key cannot see; nothing was written.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NotFoundError,
});

builder.objectType(ConflictError, {
  name: 'ConflictError',
  description: 'The change conflicts with existing data (a taken slug or hostname, a last owner leaving); nothing was written.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ConflictError,
  fields: (t) => ({
    field: t.exposeString('field', { description: 'The input field at fault, as a dotted path.' }),
  }),
});

/** The errors-plugin options of a mutation: its payload object directly in a described union. */
export function mutationErrors(name: string, types: (new (...args: any[]) => Error)[]) {
  return {
    types,
    directResult: true as const,
    union: { name: `${name}Result`, description: `The outcome of ${name[0]!.toLowerCase()}${name.slice(1)}: the payload, or a typed error.` },
  };
}
