import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './errors.ts';
import './enums.ts';
import './pagination.ts';
import './users.ts';
import './api-keys.ts';
import './viewer.ts';
import './workspaces.ts';
import './invitations.ts';
import './projects.ts';
import './domains.ts';
import './links.ts';
import './analytics.ts';

export const schema = lexicographicSortSchema(builder.toSchema());
