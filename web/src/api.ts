/** A failed request: the service's JSON error (`{error, message}`) with the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
}

/** The REST API with the dashboard's token (`Authorization: Bearer`; none when AUTH=off and no token was given). */
export class Api {
  constructor(readonly token: string | undefined) {}

  async get<T>(path: string): Promise<T> {
    const answer = await this.request<T>('GET', path);
    return answer.body;
  }

  /** Answers non-2xx statuses too when the body is JSON (a 504 command timeout is an answer, not a failure). */
  post<T>(path: string, body: unknown, extra: Record<string, string> = {}): Promise<ApiAnswer<T>> {
    return this.request<T>('POST', path, body, true, extra);
  }

  private async request<T>(
    method: string,
    path: string,
    body?: unknown,
    keepErrors = false,
    extra: Record<string, string> = {},
  ): Promise<ApiAnswer<T>> {
    const headers: Record<string, string> = { Accept: 'application/json', ...extra };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok && !(keepErrors && parsed !== undefined && res.status !== 401)) {
      const err = (parsed ?? {}) as { error?: string; message?: string };
      throw new ApiError(res.status, err.error ?? `http_${res.status}`, err.message ?? (text || res.statusText));
    }
    return { status: res.status, body: parsed as T };
  }
}
