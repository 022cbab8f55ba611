import type mongoose from 'mongoose';

/** MongoDB's and FerretDB's code for "operation exceeded time limit" (maxTimeMS). */
const MAX_TIME_MS_EXPIRED = 50;

/**
 * Gives every read on `connection` a server-side deadline: mongoose adds maxTimeMS to find,
 * findOne, countDocuments, distinct, findOneAndUpdate and aggregate unless the query sets its own.
 * The server stops the work at the deadline (FerretDB 1.24 too, for find and aggregate, which
 * countDocuments uses) instead of holding a connection for as long as a scan takes.
 */
export function applyQueryDeadline(connection: mongoose.Connection, ms: number): void {
  connection.set('maxTimeMS', ms);
}

/**
 * The driver's socket timeout for a query deadline: a reply that has not come long after the
 * server should have given up means the server or the network is stuck, so the socket is dropped.
 */
export function socketTimeoutFor(queryTimeoutMs: number): number {
  return queryTimeoutMs * 2 + 5000;
}

/** True for a query stopped at its deadline, by the server (maxTimeMS) or the driver (socket timeout). */
export function isQueryTimeout(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, name } = error as { code?: unknown; name?: unknown };
  return code === MAX_TIME_MS_EXPIRED || name === 'MongoNetworkTimeoutError';
}
