import type { MintRequest, Permission } from '../auth/token.service';
import { PERMISSIONS } from '../auth/token.service';
import { InvalidRequestError } from '../common/domain-error';
import { isValidPeerId } from './channel-rules';
import { SERVER_PEER_ID } from './signalling-hub.service';
import { patternsProblem } from './signalling-settings';

/** `expiresInSec` bounds (signalling-protocol.md, "JWT"). */
export const DEFAULT_EXPIRES_IN_SEC = 3600;
export const MAX_EXPIRES_IN_SEC = 86_400;
const METADATA_LIMITS = { metadata: 8192, peerMetadata: 4096 } as const;

/** Validates a `POST /v1/tokens` body; one 400 names every bad field. */
export function readMintRequest(body: unknown): MintRequest {
  const problems: Record<string, string> = {};
  const b =
    typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  if (!b) throw new InvalidRequestError({ body: 'must be a JSON object' });

  if (!isValidPeerId(b.peerId)) problems.peerId = 'must be printable ASCII of 1 to 128 characters';
  else if (b.peerId === SERVER_PEER_ID) problems.peerId = `${SERVER_PEER_ID} is the server's own peer id`;
  const channelsProblem = patternsProblem(b.channels);
  if (channelsProblem) problems.channels = channelsProblem;
  if (
    b.permissions !== undefined &&
    (!Array.isArray(b.permissions) || !b.permissions.every((p) => (PERMISSIONS as readonly unknown[]).includes(p)))
  ) {
    problems.permissions = `must be a list drawn from ${PERMISSIONS.join(', ')}`;
  }
  const expires = b.expiresInSec ?? DEFAULT_EXPIRES_IN_SEC;
  if (typeof expires !== 'number' || !Number.isInteger(expires) || expires < 1 || expires > MAX_EXPIRES_IN_SEC) {
    problems.expiresInSec = `must be an integer from 1 to ${MAX_EXPIRES_IN_SEC}`;
  }
  for (const [field, limit] of Object.entries(METADATA_LIMITS)) {
    const value = b[field];
    if (value === undefined) continue;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) problems[field] = 'must be a JSON object';
    else if (Buffer.byteLength(JSON.stringify(value)) > limit)
      problems[field] = `must be at most ${limit} bytes as JSON`;
  }
  if (Object.keys(problems).length > 0) throw new InvalidRequestError(problems);
  return {
    peerId: b.peerId as string,
    channels: b.channels as string[],
    ...(b.permissions !== undefined ? { permissions: [...new Set(b.permissions as Permission[])] } : {}),
    expiresInSec: expires as number,
    ...(b.metadata !== undefined ? { metadata: b.metadata as Record<string, unknown> } : {}),
    ...(b.peerMetadata !== undefined ? { peerMetadata: b.peerMetadata as Record<string, unknown> } : {}),
  };
}
