import { NAME_PATTERN } from '../common/validate';

/** A device's signalling peer id (issue #15): `{type}/{id}`, as its MQTT username. */
export function devicePeerId(deviceType: string, deviceId: string): string {
  return `${deviceType}/${deviceId}`;
}

/** The device a peer id names, or undefined when it is not `{type}/{id}`. */
export function deviceOfPeer(peerId: string): { deviceType: string; deviceId: string } | undefined {
  const slash = peerId.indexOf('/');
  if (slash < 0) return undefined;
  const deviceType = peerId.slice(0, slash);
  const deviceId = peerId.slice(slash + 1);
  if (!NAME_PATTERN.test(deviceType) || !NAME_PATTERN.test(deviceId)) return undefined;
  return { deviceType, deviceId };
}
