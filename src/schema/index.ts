import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './errors.ts';
import './enums.ts';
import './users.ts';
import './api-keys.ts';
import './viewer.ts';
import './workspaces.ts';

export const schema = lexicographicSortSchema(builder.toSchema());
