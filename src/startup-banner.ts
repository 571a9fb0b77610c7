import type { RunningApp } from './app';
import type { MqttTransport } from './mqtt/mqtt-transport';

/** What `npm start` prints: where it listens, the credentials, and lines to try. */
export function startupBanner(
  running: RunningApp,
  mqtt: ReturnType<MqttTransport['describe']>,
  clientToken: string,
): string {
  const { config, url } = running;
  const prefix = config.mqtt.topicPrefix;
  const mqttLine = mqtt.external
    ? `external broker ${mqtt.external}`
    : `embedded broker ${mqtt.tcp ?? ''}, WebSocket ${mqtt.websocket ?? ''}` +
      (mqtt.tls ? `, TLS ${mqtt.tls} and ${mqtt.secureWebsocket ?? ''}` : '');
  const [mqttHost, mqttPort] = (mqtt.tcp ?? mqtt.external ?? 'mqtt://127.0.0.1:1883')
    .replace(/^\w+:\/\//, '')
    .split(':');
  const deviceAuth = !mqtt.external && config.mqtt.deviceAuth;
  // With credentials the embedded broker takes only the username as client id (issue #18).
  const credentials = deviceAuth ? ' -i "$DEVICE_USER" -u "$DEVICE_USER" -P "$DEVICE_PASSWORD"' : '';
  return [
    '',
    'DeviceHub Bridge is running',
    `  HTTP          ${url}`,
    `  Dashboard     ${url}/?token=${clientToken}`,
    `  API docs      ${url}/docs`,
    `  MQTT          ${mqttLine}`,
    `  Database      ${config.database.type === 'sqlite' ? `SQLite ${config.database.path}` : 'PostgreSQL'}`,
    `  Admin token   ${config.auth.adminToken}`,
    `  Client token  ${clientToken}`,
    '',
    'Try it:',
    ...(deviceAuth
      ? [
          `  # device credentials (DEVICE_AUTH=required; DEVICE_AUTH=off admits anonymous devices)`,
          `  curl -s -X POST -H "Authorization: Bearer ${config.auth.adminToken}" ${url}/admin/devices/weatherstation/ws-001/credentials`,
        ]
      : []),
    `  mosquitto_pub -h ${mqttHost} -p ${mqttPort}${credentials} -t ${prefix}/weatherstation/ws-001/data -m '{"temperature": 25.3, "humidity": 80.1}'`,
    `  curl -s -H "Authorization: Bearer ${clientToken}" ${url}/api/devices`,
    `  curl -s -X POST -H "Authorization: Bearer ${config.auth.adminToken}" -H 'Content-Type: application/json' \\`,
    `    -d '{"device_type":"weatherstation","device_id":"ws-001","event_type":"alert","data":{"msg":"hi"}}' ${url}/admin/broadcast`,
    '',
  ].join('\n');
}
