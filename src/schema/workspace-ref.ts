import type { WorkspaceDoc } from '../core/workspaces.ts';
import { builder } from './builder.ts';

/** Declared apart from workspaces.ts so that keys, links and projects can point to it without cycles. */
export const WorkspaceRef = builder.objectRef<WorkspaceDoc>('Workspace');
