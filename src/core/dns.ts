import { promises as dns } from 'node:dns';

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
