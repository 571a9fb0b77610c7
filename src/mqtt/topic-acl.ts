/**
 * Who a client of the embedded broker is, and what it may do (bridge.md,
 * "MQTT (devices)"): a device publishes only under `{prefix}/{type}/{id}/…`
 * and subscribes only to its own `cmd`; a gateway publishes and subscribes
 * within its topic filters; an anonymous client (DEVICE_AUTH=off only) may do
 * anything but publish under `$`-topics. A client with credentials connects
 * only with its own client id (see `ownsClientId`).
 */
export type MqttIdentity =
  | { kind: 'anonymous' }
  | { kind: 'device'; username: string; deviceType: string; deviceId: string }
  | { kind: 'gateway'; username: string; topics: readonly string[] };

/** MQTT topic filter syntax: `+` fills a whole level, `#` only the whole last level; 1 to 1024 characters, no NUL. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what a filter must not hold
export const FILTER_PATTERN = /^(?=.{1,1024}$)(?:#|(?:\+|[^/+#\u0000]*)(?:\/(?:\+|[^/+#\u0000]*))*(?:\/#)?)$/;

export function isValidFilter(filter: string): boolean {
  return FILTER_PATTERN.test(filter);
}

/** Whether `topic` (no wildcards) matches `filter`, with MQTT's rule that wildcards never match a leading `$`. */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Whether every topic `filter` can match is also matched by `pattern` (a gateway subscribing within its scope). */
export function filterCovers(pattern: string, filter: string): boolean {
  // `#` and `+` in the pattern do not reach `$`-topics, which such a filter asks for.
  if (filter.startsWith('$') && (pattern.startsWith('+') || pattern.startsWith('#'))) return false;
  const p = pattern.split('/');
  const f = filter.split('/');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#') return true;
    if (i >= f.length) return false;
    if (f[i] === '#') return false;
    if (p[i] === '+') continue;
    if (f[i] === '+' || f[i] !== p[i]) return false;
  }
  return p.length === f.length;
}

/** The embedded broker's publish and subscribe decisions; cheap string work, no I/O. */
export class TopicAcl {
  constructor(private readonly prefix: string) {}

  canPublish(who: MqttIdentity, topic: string): boolean {
    if (topic.startsWith('$')) return false;
    switch (who.kind) {
      case 'anonymous':
        return true;
      case 'device':
        return topic.startsWith(`${this.prefix}/${who.deviceType}/${who.deviceId}/`);
      case 'gateway':
        return who.topics.some((pattern) => topicMatches(pattern, topic));
    }
  }

  canSubscribe(who: MqttIdentity, filter: string): boolean {
    switch (who.kind) {
      case 'anonymous':
        return true;
      case 'device':
        return filter === this.commandTopic(who.deviceType, who.deviceId);
      case 'gateway':
        return who.topics.some((pattern) => filterCovers(pattern, filter));
    }
  }

  /**
   * A client id names an MQTT session, and a second connection with the same
   * id ends the first and inherits its queued messages (MQTT-3.1.4-2). So a
   * client with credentials (a password, or a device certificate whose CN is
   * the username) may use only its username as its id
   * (`{type}/{id}` for a device, the name for a gateway: names have no `/`,
   * so no two identities share one), and no client can take over another's
   * session (issue #18). Anonymous clients have no identity to bind to.
   */
  ownsClientId(who: MqttIdentity, clientId: string): boolean {
    return who.kind === 'anonymous' || clientId === who.username;
  }

  commandTopic(deviceType: string, deviceId: string): string {
    return `${this.prefix}/${deviceType}/${deviceId}/cmd`;
  }
}
