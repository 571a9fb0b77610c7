import type { Declaration, FieldSpec } from './readings';

/** The service's admin API as the simulator uses it; every call has a deadline. */
export class ServiceApi {
  constructor(
    private readonly base: string,
    private readonly adminToken: string,
  ) {}

  /** Whether the admin API answers with this token (`GET /admin/peers`): false when unreachable or refused. */
  async reachable(): Promise<{ ok: true } | { ok: false; why: string }> {
    try {
      const res = await this.fetch('GET', '/admin/peers');
      if (res.ok) return { ok: true };
      return { ok: false, why: `the admin API answered ${res.status} (is --admin-token right?)` };
    } catch (err) {
      return { ok: false, why: `${this.base} is unreachable (${describe(err)})` };
    }
  }

  /** `POST /admin/devices/{type}/{id}/credentials`: the device's own MQTT username and password (minting rotates them). */
  async credentials(type: string, id: string): Promise<{ username: string; password: string }> {
    const res = await this.fetch(
      'POST',
      `/admin/devices/${encodeURIComponent(type)}/${encodeURIComponent(id)}/credentials`,
    );
    if (!res.ok) {
      // The service's JSON error says why (an external broker, an undeclared type); its message is the line to show.
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        // not JSON: show it as it came
      }
      throw new Error(`no credentials for ${type}/${id} (${res.status}): ${message}`);
    }
    return (await res.json()) as { username: string; password: string };
  }

  /** The type's declaration, read with a short-lived client token; undefined when the type is not declared. */
  async declaration(type: string): Promise<Declaration | undefined> {
    const minted = await this.fetch('POST', '/v1/tokens', { peerId: 'simulator', channels: ['**'], expiresInSec: 300 });
    if (!minted.ok) return undefined;
    const { token } = (await minted.json()) as { token: string };
    const res = await fetch(`${this.base}/api/device-types/${encodeURIComponent(type)}`, {
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) return undefined;
    const body = (await res.json()) as {
      heartbeat_interval?: number;
      readings?: Record<string, FieldSpec>;
      commands?: Record<string, { payload: Record<string, FieldSpec> }>;
    };
    return {
      heartbeatIntervalSec: body.heartbeat_interval,
      readings: body.readings ?? {},
      commands: body.commands ?? {},
    };
  }

  private fetch(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.base}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${this.adminToken}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
  }
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code ?? (err instanceof Error ? err.message : String(err));
}
