/** What the service sends and answers (bridge.md, "Events" and "REST and admin"). */
export interface DeviceEvent {
  id: string;
  event: string;
  device_type: string;
  device_id: string;
  data: Record<string, unknown>;
  timestamp: string;
  received_at?: string;
}

export interface DeviceView {
  device_type: string;
  device_id: string;
  status: string;
  first_seen?: string;
  last_seen: string;
  battery_level: number | null;
  firmware_version: string | null;
  latest_readings: Record<string, { value: unknown; timestamp: string }>;
}

export interface ReadingView {
  timestamp: string;
  name: string;
  value: unknown;
}

export interface ReadingsAnswer {
  device_type: string;
  device_id: string;
  readings?: ReadingView[];
}

/** A field of a reading or of a command payload, as DEVICE_TYPES declares it. */
export interface FieldSpec {
  type: 'number' | 'integer' | 'boolean' | 'string';
  unit?: string;
  range?: [number, number];
  required?: boolean;
}

/** `GET /api/device-types/{type}`: a declared type. */
export interface DeviceTypeView {
  device_type: string;
  heartbeat_interval: number;
  readings: Record<string, FieldSpec>;
  commands: Record<string, { payload: Record<string, FieldSpec> }>;
}

export const STATUSES = ['online', 'offline', 'error', 'maintenance', 'low_battery', 'provisioning'] as const;

/** `GET /api/stats`: the fleet overview (issue #19). */
export interface StatsView {
  at: string;
  devices: {
    total: number;
    online: number;
    offline: number;
    error: number;
    silent: number;
    by_status: Record<string, number>;
  };
  heartbeat: { default_interval: number; intervals: Record<string, number> };
  rates: {
    interval_sec: number;
    window_sec: number;
    points: { at: string; messages_per_sec: number; rejects_per_sec: number }[];
  };
  log: {
    pending_events: number;
    lag_ms: number;
    last_write_ms: number;
    avg_write_ms: number | null;
    batches: number;
    events: number;
  };
  health: {
    status: string;
    broker: { connected: boolean };
    database: { connected: boolean; error?: string };
    redis?: { connected: boolean };
  };
  instances: { id: string; leader: boolean; up: boolean; seen_at: string; messages_per_sec: number; self: boolean }[];
}

/** `GET /admin/rejects`. */
export interface RejectView {
  id: number;
  received_at: string;
  topic: string;
  reason: string;
  detail: string;
  payload: string;
  payload_encoding: 'utf8' | 'base64';
  payload_size: number;
}
