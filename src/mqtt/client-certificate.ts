import { TLSSocket } from 'node:tls';
import type { Client } from 'aedes';
import type { ClientCertMode } from '../config/app-config';
import { NAME_PATTERN } from '../common/validate';
import type { MqttIdentity } from './topic-acl';

/** What a device showed on the TLS listener; the server asks for one, and checks it against MQTT_TLS_CA. */
export type ClientCertificate =
  | { kind: 'none' }
  | { kind: 'trusted'; commonName: string; serialNumber: string }
  | { kind: 'untrusted'; reason: string };

export type CertificateDecision =
  | { kind: 'device'; identity: Extract<MqttIdentity, { kind: 'device' }>; serialNumber: string }
  | { kind: 'refused'; reason: string }
  /** No certificate, and none required: the username and password decide. */
  | { kind: 'password' };

/**
 * The certificate of a client of the TLS listener (the TLS socket itself, or
 * the one under its WebSocket); undefined for plain TCP and `ws://`.
 */
export function clientCertificateOf(client: Client): ClientCertificate | undefined {
  const socket = client.conn instanceof TLSSocket ? client.conn : client.req?.socket;
  return socket instanceof TLSSocket ? clientCertificate(socket) : undefined;
}

export function clientCertificate(socket: TLSSocket): ClientCertificate {
  const certificate = socket.getPeerCertificate();
  // Node gives an empty object when the client sent no certificate.
  if (Object.keys(certificate).length === 0) return { kind: 'none' };
  if (!socket.authorized) return { kind: 'untrusted', reason: String(socket.authorizationError) };
  // Node gives an array for a subject with several CNs: such a certificate names no one device.
  const cn: unknown = certificate.subject.CN;
  if (typeof cn !== 'string') return { kind: 'untrusted', reason: 'its subject has no single CN' };
  return { kind: 'trusted', commonName: cn, serialNumber: certificate.serialNumber };
}

/**
 * A trusted certificate names one device by its CN, `{type}/{id}`: the same
 * name as its password username, so the same topic ACL (topic-acl.ts) holds.
 * An untrusted certificate is refused rather than ignored, so a device with a
 * wrong CA learns it at once instead of being taken for its password. A
 * username given with a certificate must be the CN; the password is not
 * looked at.
 */
export function decideByCertificate(
  certificate: ClientCertificate,
  username: string | undefined,
  mode: ClientCertMode,
): CertificateDecision {
  switch (certificate.kind) {
    case 'none':
      return mode === 'required'
        ? { kind: 'refused', reason: 'a client certificate is required (MQTT_TLS_CLIENT_CERTS=required)' }
        : { kind: 'password' };
    case 'untrusted':
      return { kind: 'refused', reason: `the client certificate is not trusted (${certificate.reason})` };
    case 'trusted': {
      const cn = certificate.commonName;
      const [deviceType, deviceId, ...rest] = cn.split('/');
      if (rest.length > 0 || !NAME_PATTERN.test(deviceType) || deviceId === undefined || !NAME_PATTERN.test(deviceId))
        return { kind: 'refused', reason: `the client certificate's CN ${cn} is not {device_type}/{device_id}` };
      if (username !== undefined && username !== '' && username !== cn)
        return { kind: 'refused', reason: `the username ${username} is not the client certificate's CN ${cn}` };
      return {
        kind: 'device',
        identity: { kind: 'device', username: cn, deviceType, deviceId },
        serialNumber: certificate.serialNumber,
      };
    }
  }
}
