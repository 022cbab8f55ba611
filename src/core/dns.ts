import { promises as dns } from 'node:dns';
import { VerificationFailedError } from '../errors.ts';

/** Looks up TXT records; injected so that tests never touch the network. */
export type TxtResolver = (hostname: string) => Promise<string[]>;

export const systemTxtResolver: TxtResolver = async (hostname) => {
  try {
    const records = await dns.resolveTxt(hostname);
    return records.map((chunks) => chunks.join(''));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
    throw error;
  }
};

/**
 * Succeeds when `name` has a TXT record equal to `value`. A failed lookup or a missing record is a
 * VerificationFailedError saying what was found and what to do, never a server error.
 */
export async function requireTxtRecord(resolver: TxtResolver, name: string, value: string): Promise<void> {
  let found: string[];
  try {
    found = await resolver(name);
  } catch (error) {
    throw new VerificationFailedError(`DNS lookup of ${name} failed (${(error as NodeJS.ErrnoException).code ?? 'error'}); try again later`);
  }
  if (!found.includes(value)) {
    throw new VerificationFailedError(
      `TXT record ${name} = "${value}" not found${found.length ? ` (found: ${found.map((v) => `"${v}"`).join(', ')})` : ''}; publish it and retry (DNS changes can take minutes)`,
    );
  }
}
