import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';

// GitHub's secret-scanning partner protocol: GitHub POSTs the tokens it found in public content,
// signed with ECDSA P-256 / SHA-256 over the raw body; the partner answers with one verdict per token.

/** The type name registered with GitHub for our keys, echoed in the answer when a match has none. */
export const TOKEN_TYPE = 'taapit_api_key';
/** A report larger than this is refused whole (GitHub sends small batches). */
export const MAX_MATCHES = 1000;

/** GitHub's signing keys by identifier, from the document GitHub publishes. */
export type SigningKeys = ReadonlyMap<string, KeyObject>;

/**
 * Parses the `{ "public_keys": [{ "key_identifier", "key" (PEM), "is_current" }] }` document;
 * throws an Error saying what is wrong. Every listed key verifies, current or not: GitHub may
 * still sign with the previous one while it rotates.
 */
export function parseSigningKeys(text: string): SigningKeys {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new Error('not JSON: expected the document GitHub publishes, { "public_keys": [...] }');
  }
  const list = (document as { public_keys?: unknown } | null)?.public_keys;
  if (!Array.isArray(list) || list.length === 0) throw new Error('expected a non-empty "public_keys" array');
  const keys = new Map<string, KeyObject>();
  for (const [i, entry] of list.entries()) {
    const { key_identifier: id, key } = (entry ?? {}) as { key_identifier?: unknown; key?: unknown };
    if (typeof id !== 'string' || id === '') throw new Error(`public_keys[${i}].key_identifier must be a non-empty string`);
    if (typeof key !== 'string') throw new Error(`public_keys[${i}].key must be a PEM public key`);
    let keyObject: KeyObject;
    try {
      keyObject = createPublicKey(key);
    } catch {
      throw new Error(`public_keys[${i}].key is not a PEM public key`);
    }
    if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error(`public_keys[${i}].key must be an ECDSA P-256 key`);
    }
    keys.set(id, keyObject);
  }
  return keys;
}

/** Whether `signature` (base64 DER ECDSA) over the raw body verifies with the key GitHub names. */
export function verifySignature(keys: SigningKeys, keyIdentifier: string | null, signature: string | null, body: Uint8Array): boolean {
  if (!keyIdentifier || !signature) return false;
  const key = keys.get(keyIdentifier);
  if (!key) return false;
  try {
    return verify('sha256', body, key, Buffer.from(signature, 'base64'));
  } catch {
    // A signature that is not DER at all.
    return false;
  }
}

/** One token GitHub found. */
export interface TokenMatch {
  token: string;
  type: string;
}

/** The matches of a report body, or why it is not one (the caller answers 400 with it). */
export function parseMatches(body: Uint8Array): TokenMatch[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return 'The body is not JSON: expected an array of matches, [{ "token": "...", "type": "...", "url": "...", "source": "..." }].';
  }
  if (!Array.isArray(parsed)) return 'Expected a JSON array of matches.';
  if (parsed.length > MAX_MATCHES) return `At most ${MAX_MATCHES} matches per report: send several reports.`;
  const matches: TokenMatch[] = [];
  for (const [i, entry] of parsed.entries()) {
    const { token, type } = (entry ?? {}) as { token?: unknown; type?: unknown };
    if (typeof token !== 'string' || token === '') return `Match ${i} has no "token" string.`;
    matches.push({ token, type: typeof type === 'string' && type !== '' ? type : TOKEN_TYPE });
  }
  return matches;
}

/** How the answer names a token: its SHA-256, hex, as GitHub computes it. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
