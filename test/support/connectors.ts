import { EventBusService } from '../../src/bus/event-bus.service';
import type { DeviceEvent } from '../../src/bus/device-event';
import type { TestApp } from './app';

/** The connector settings the suites run with: loopback receivers, retries and failing in milliseconds. */
export const CONNECTOR_TEST_ENV = {
  CONNECTORS_ALLOW_PRIVATE: 'true',
  CONNECTORS_RETRY_INITIAL: '40ms',
  CONNECTORS_RETRY_MAX: '200ms',
  CONNECTORS_FAILING_AFTER: '300ms',
  CONNECTORS_LEASE_TTL: '3s',
};

/** Calls the admin API; answers status and JSON body. */
export async function admin<T = Record<string, unknown>>(
  app: Pick<TestApp, 'url' | 'adminToken'>,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${app.adminToken}`,
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Publishes `count` events as ingestion would (device `id`, readings `n`), and resolves with them logged. */
export async function publishEvents(
  app: TestApp,
  count: number,
  options: { deviceType?: string; deviceId?: string; event?: string; from?: number } = {},
): Promise<DeviceEvent[]> {
  const now = new Date().toISOString();
  const events = Array.from({ length: count }, (_, i) => ({
    event: options.event ?? 'data',
    device_type: options.deviceType ?? 'meter',
    device_id: options.deviceId ?? 'm-1',
    data: { n: (options.from ?? 0) + i },
    timestamp: now,
    received_at: now,
  }));
  return app.app.get(EventBusService).publish(events);
}
