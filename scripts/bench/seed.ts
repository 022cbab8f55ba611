// Fills the bench database fast: filler links, their slug documents and click days go in with insertMany, 1000
// documents a command (FerretDB hangs on update batches of 100+ statements, not on inserts); keys
// go through insertApiKey so that however keys are stored, the filler is stored the same way.
import { randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import { insertApiKey } from '../../src/core/api-keys.ts';
import { ClickDay, encodeCounterKey, linkDayId, workspaceDayId } from '../../src/models/click-day.ts';
import { Domain } from '../../src/models/domain.ts';
import { Link } from '../../src/models/link.ts';
import { Project } from '../../src/models/project.ts';
import { Slug, slugId } from '../../src/models/slug.ts';
import { User } from '../../src/models/user.ts';
import { Membership, Workspace } from '../../src/models/workspace.ts';
import { PLATFORM_DOMAIN } from '../../src/rules/links.ts';

const INSERT_CHUNK = 1000;
const KEY_CONCURRENCY = 16;
export const CUSTOM_DOMAIN = 'go.bench.example';

export interface BenchWorld {
  userId: Types.ObjectId;
  workspaceId: Types.ObjectId;
  projectId: Types.ObjectId;
  /** The key every warm request uses (FULL, created first). */
  secret: string;
  /** Filler links: ids spread over the collection, for click flushes. */
  fillerLinks: { _id: Types.ObjectId; workspaceId: Types.ObjectId }[];
  links: number;
  keys: number;
}

const fullSpec = (name: string) => ({
  name,
  permission: 'FULL' as const,
  scopes: [],
  workspaces: [],
  expiresAt: null,
  allowedIps: [],
  rateLimit: null,
});

export async function seedBase(pepper: string): Promise<BenchWorld> {
  const user = await User.create({ name: 'bench', email: 'bench@example.com' });
  const workspace = await Workspace.create({ name: 'bench', createdByUserId: user._id });
  await Membership.create({ workspaceId: workspace._id, userId: user._id, role: 'OWNER' });
  const project = await Project.create({ workspaceId: workspace._id, name: 'bench project' });
  await Domain.create({ workspaceId: workspace._id, hostname: CUSTOM_DOMAIN, verified: true, verifiedAt: new Date(), verificationToken: randomBytes(8).toString('hex') });
  const { secret } = await insertApiKey({ userId: user._id, pepper, createdVia: 'CLI', spec: fullSpec('bench') });
  return { userId: user._id, workspaceId: workspace._id, projectId: project._id, secret, fillerLinks: [], links: 0, keys: 1 };
}

/**
 * Adds filler links (half on the custom domain, half in the project) up to `total`, each with
 * one click today, so that analytics reads scan a collection of the same size.
 */
export async function growLinks(world: BenchWorld, total: number, _shortDomain?: string): Promise<void> {
  const day = new Date().toISOString().slice(0, 10);
  while (world.links < total) {
    const count = Math.min(INSERT_CHUNK, total - world.links);
    const docs = Array.from({ length: count }, (_, i) => {
      const n = world.links + i;
      return {
        _id: new Types.ObjectId(),
        workspaceId: world.workspaceId,
        // The others on the platform's short domain, stored as its marker (whatever SHORT_DOMAIN is).
        domain: n % 2 ? CUSTOM_DOMAIN : PLATFORM_DOMAIN,
        slug: `f${n}`,
        url: `https://example.com/page/${n}`,
        title: `Filler ${n}`,
        tags: n % 3 ? [] : ['filler'],
        projectId: n % 2 ? world.projectId : null,
        createdByUserId: world.userId,
        clicks: 1,
      };
    });
    await Link.insertMany(docs, { ordered: false });
    // Each link's slug document, as createLink writes it: the redirect and uniqueness checks read these.
    await Slug.insertMany(docs.map((d) => ({ _id: slugId(d.domain, d.slug), linkId: d._id, workspaceId: d.workspaceId })), { ordered: false });
    await ClickDay.insertMany(
      docs.map((d) => ({ _id: linkDayId(d._id, day), workspaceId: d.workspaceId, linkId: d._id, day, clicks: 1 })),
      { ordered: false },
    );
    await ClickDay.updateOne({ _id: workspaceDayId(world.workspaceId, day) }, { $inc: { clicks: count }, $setOnInsert: { workspaceId: world.workspaceId, day } }, { upsert: true });
    for (const d of docs) world.fillerLinks.push({ _id: d._id, workspaceId: d.workspaceId });
    world.links += count;
  }
}

/** Adds filler keys (FULL keys of the bench user) up to `total`; returns nothing, secrets are dropped. */
export async function growKeys(world: BenchWorld, total: number, pepper: string): Promise<void> {
  while (world.keys < total) {
    const count = Math.min(KEY_CONCURRENCY, total - world.keys);
    await Promise.all(
      Array.from({ length: count }, (_, i) => insertApiKey({ userId: world.userId, pepper, createdVia: 'CLI', spec: fullSpec(`filler ${world.keys + i}`) })),
    );
    world.keys += count;
  }
}

/** 30 days of clicks on one link across every breakdown, the shape linkStats reads (and its workspace's days). */
export async function seedLinkClicks(linkId: Types.ObjectId, workspaceId: Types.ObjectId): Promise<void> {
  const values = {
    referrers: ['(direct)', 'news.ycombinator.com', 't.co', 'www.google.com'],
    devices: ['desktop', 'mobile'],
    browsers: ['Chrome', 'Firefox', 'Safari'],
  } as const;
  for (let d = 0; d < 30; d++) {
    const day = new Date(Date.now() - d * 86_400_000).toISOString().slice(0, 10);
    const $inc: Record<string, number> = { clicks: 1 + d };
    for (const [breakdown, list] of Object.entries(values)) for (const value of list) $inc[`${breakdown}.${encodeCounterKey(value)}`] = 1 + d;
    await ClickDay.updateOne({ _id: linkDayId(linkId, day) }, { $inc, $setOnInsert: { workspaceId, linkId, day } }, { upsert: true });
    await ClickDay.updateOne({ _id: workspaceDayId(workspaceId, day) }, { $inc: { ...$inc, [`links.${linkId}`]: 1 + d }, $setOnInsert: { workspaceId, day } }, { upsert: true });
  }
}
