import { GraphQLError } from 'graphql';
import { permissionUsage } from '../core/permission-usage.ts';
import { PERMISSION_USAGE_DEFAULT_DAYS, PERMISSION_USAGE_MAX_DAYS, type PermissionUse } from '../rules/permission-usage.ts';
import { ApiKeyRef } from './api-keys.ts';
import { builder } from './builder.ts';

const PermissionUsageRef = builder.objectRef<PermissionUse>('PermissionUsage').implement({
  description: 'How often a key used one of its permissions in a window of days: a permission unused for long can be dropped.',
  fields: (t) => ({
    permission: t.exposeString('permission', { description: 'The permission, e.g. `links:write` (WRITE implies READ: both are listed).' }),
    uses: t.exposeInt('uses', {
      description: 'Requests in the window in which a field needing it passed the key check (counted once per request; up to USAGE_FLUSH_MS late).',
    }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true, description: 'Its last use in the window; null: unused there.' }),
  }),
});

builder.objectField(ApiKeyRef, 'permissionUsage', (t) =>
  t.field({
    type: [PermissionUsageRef],
    description: `Each permission this key holds with its uses in the last \`days\` UTC days, today included (1–${PERMISSION_USAGE_MAX_DAYS}).`,
    args: {
      days: t.arg.int({
        required: true,
        defaultValue: PERMISSION_USAGE_DEFAULT_DAYS,
        description: `How many days back, today included: 1 to ${PERMISSION_USAGE_MAX_DAYS} (default ${PERMISSION_USAGE_DEFAULT_DAYS}).`,
      }),
    },
    resolve: (key, { days }, ctx) => {
      if (!Number.isInteger(days) || days < 1 || days > PERMISSION_USAGE_MAX_DAYS) {
        throw new GraphQLError(`days must be from 1 to ${PERMISSION_USAGE_MAX_DAYS}; older usage is not reported.`, {
          extensions: { code: 'BAD_USER_INPUT', argument: 'days' },
        });
      }
      return permissionUsage(ctx, key, days);
    },
  }),
);
