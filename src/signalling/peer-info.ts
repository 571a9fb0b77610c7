import type { SignallingPeer } from './signalling-peer';

/** What `GET /admin/peers` shows of one connection. */
export interface PeerInfo {
  peerId: string;
  auth: 'token' | 'key';
  key?: string;
  connectedAt: string;
  expiresAt: number | null;
  remoteAddress?: string;
  permissions: string[];
  subscriptions: string[];
  metadata?: Record<string, unknown>;
}

export function peerInfo(peer: SignallingPeer): PeerInfo {
  const id = peer.identity;
  return {
    peerId: id.peerId,
    auth: id.key === undefined ? 'token' : 'key',
    ...(id.key !== undefined ? { key: id.key } : {}),
    connectedAt: new Date(peer.connectedAt).toISOString(),
    expiresAt: id.expiresAt,
    ...(peer.remoteAddress !== undefined ? { remoteAddress: peer.remoteAddress } : {}),
    permissions: [...id.permissions],
    subscriptions: [...peer.subscriptions.keys()],
    ...(id.peerMetadata !== undefined ? { metadata: id.peerMetadata } : {}),
  };
}
