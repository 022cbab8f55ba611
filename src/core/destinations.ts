import type { Types } from 'mongoose';
import { ValidationError } from '../errors.ts';
import { Domain } from '../models/domain.ts';
import { destinationHost, isPlatformDestination, validateUrl } from '../rules/validation.ts';

/**
 * A URL people are sent to (a link's destination, a domain's notFoundUrl): valid, and not on a
 * host of this platform, since that would redirect back here. Hosts of this platform are the
 * short domain, every verified domain, and the workspace's own domains verified or not.
 */
export async function validateDestination(
  value: string,
  field: string,
  options: { shortDomain: string; workspaceId: Types.ObjectId },
): Promise<string> {
  const stored = validateUrl(value, field);
  const url = new URL(stored);
  const loop = 'sending people there would redirect back here (a redirect loop); use the final destination instead';
  if (isPlatformDestination(url, options.shortDomain)) {
    throw new ValidationError(field, `${options.shortDomain} is this platform's short domain: ${loop}`);
  }
  const host = destinationHost(url);
  if (await Domain.exists({ hostname: host, $or: [{ verified: true }, { workspaceId: options.workspaceId }] })) {
    throw new ValidationError(field, `${host} is a short-link domain on this platform: ${loop}`);
  }
  return stored;
}
