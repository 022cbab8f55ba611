import mongoose from 'mongoose';
import './api-key.ts';
import './api-key-secret.ts';
import './audit-event.ts';
import './domain-host.ts';
import './permission-usage.ts';
import './rate-limit-window.ts';
import './slug.ts';
import './trusted-document.ts';
import './user.ts';
import './user-roles.ts';
import './workspace.ts';

/**
 * Creates collections and indexes explicitly at start (autoIndex is off), for every model this
 * process has defined. A model defines itself when its module is imported: the ones above here,
 * the workspace-owned ones through src/core/resources.ts, which every entry point reaches
 * (through the schema) before it calls this.
 */
export async function ensureIndexes(): Promise<void> {
  for (const name of mongoose.modelNames().sort()) {
    const model = mongoose.model(name);
    await model.createCollection().catch((error: { code?: number }) => {
      if (error.code !== 48) throw error; // 48: NamespaceExists
    });
    await model.createIndexes();
  }
}
