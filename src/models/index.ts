import { ApiKey } from './api-key.ts';
import { ClickBucket } from './click-bucket.ts';
import { Domain } from './domain.ts';
import { Invitation } from './invitation.ts';
import { Link } from './link.ts';
import { Project } from './project.ts';
import { RateLimitWindow } from './rate-limit-window.ts';
import { User } from './user.ts';
import { Membership, Workspace } from './workspace.ts';

export const allModels = [User, ApiKey, Workspace, Membership, Invitation, Project, Domain, Link, ClickBucket, RateLimitWindow];

/** Creates collections and indexes explicitly at start (autoIndex is off). */
export async function ensureIndexes(): Promise<void> {
  for (const model of allModels) {
    await model.createCollection().catch((error: { code?: number }) => {
      if (error.code !== 48) throw error; // 48: NamespaceExists
    });
    await model.createIndexes();
  }
}
