import { Api, ApiError } from './api';
import { ADMIN_TOKEN_KEY, adminTokenForm } from './admin-token';
import { h, replaceChildren } from './dom';

/** How often the figures are read again while the page is open. */
const REFRESH_MS = 2000;

/** A connector as `GET /admin/connectors` shows it (src/connectors/connector-view.ts). */
export interface ConnectorRow {
  name: string;
  url: string;
  state: 'ok' | 'paused' | 'retrying' | 'failing';
  paused: boolean;
  source: 'config' | 'admin';
  cursor: string;
  lag: { events: number; seconds: number };
  deliveries: number;
  failures: number;
  events_delivered: number;
  last_status: number | null;
  last_error: string | null;
  last_success_at: string | null;
  failing_since: string | null;
}

interface TestAnswer {
  ok: boolean;
  status: number | null;
  error: string | null;
  duration_ms: number;
}

/**
 * Data connectors (issue #16): each webhook's state, cursor, lag, last
 * answer and counts, read again every 2 s, with pause / resume, replay
 * from an event id and a signed test delivery. Needs the admin token, kept
 * for the tab as on the rejects page.
 */
export class ConnectorsPage {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly notice: HTMLElement;
  private timer: number | undefined;

  constructor() {
    this.body = h('div', { class: 'connectors-body' });
    this.notice = h('p', { class: 'hint', 'data-testid': 'connectors-notice', role: 'status' });
    this.element = h(
      'section',
      { class: 'panel connectors', 'data-testid': 'connectors-page' },
      h('h2', null, 'Data connectors ', h('span', { class: 'needs-admin' }, 'admin token')),
      this.notice,
      this.body,
    );
    const stored = sessionStorage.getItem(ADMIN_TOKEN_KEY);
    if (stored) void this.load(new Api(stored));
    else this.askToken();
  }

  /** Stops reading: the page was left. */
  destroy(): void {
    clearTimeout(this.timer);
  }

  private askToken(problem?: string): void {
    replaceChildren(
      this.body,
      adminTokenForm(problem, (token) => void this.load(new Api(token))),
    );
  }

  private async load(api: Api): Promise<void> {
    clearTimeout(this.timer);
    let rows: ConnectorRow[];
    try {
      rows = (await api.get<{ connectors: ConnectorRow[] }>('/admin/connectors')).connectors;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        sessionStorage.removeItem(ADMIN_TOKEN_KEY);
        return this.askToken(`That admin token was refused (401): ${err.message}`);
      }
      this.notice.textContent = `The connectors could not be read: ${String(err)}`;
      rows = [];
    }
    if (api.token) sessionStorage.setItem(ADMIN_TOKEN_KEY, api.token);
    this.render(api, rows);
    this.timer = window.setTimeout(() => void this.load(api), REFRESH_MS);
  }

  private render(api: Api, rows: ConnectorRow[]): void {
    if (rows.length === 0) {
      replaceChildren(
        this.body,
        h(
          'p',
          { class: 'hint', 'data-testid': 'connectors-empty' },
          'No connectors yet: POST /admin/connectors or CONNECTORS.',
        ),
      );
      return;
    }
    const head = ['Name', 'Target', 'State', 'Cursor', 'Lag', 'Last answer', 'Delivered', ''];
    replaceChildren(
      this.body,
      h(
        'table',
        { 'data-testid': 'connectors-table' },
        h('thead', null, h('tr', null, ...head.map((t) => h('th', null, t)))),
        h('tbody', null, ...rows.map((row) => this.row(api, row))),
      ),
    );
  }

  private row(api: Api, c: ConnectorRow): HTMLTableRowElement {
    const act = (label: string, path: string, body?: unknown): HTMLButtonElement => {
      const button = h('button', { type: 'button', class: 'secondary', 'data-action': label.toLowerCase() }, label);
      button.addEventListener('click', () => void this.act(api, c.name, path, body));
      return button;
    };
    const replayFrom = h('input', {
      type: 'text',
      inputmode: 'numeric',
      placeholder: 'event id',
      'aria-label': `Replay ${c.name} from event id`,
      'data-testid': 'replay-from',
    });
    const replay = h('button', { type: 'button', class: 'secondary', 'data-action': 'replay' }, 'Replay');
    replay.addEventListener('click', () => {
      const from = replayFrom.value.trim();
      if (from) void this.act(api, c.name, 'replay', { from_id: from });
    });
    const since = c.failing_since ? ` since ${new Date(c.failing_since).toLocaleTimeString()}` : '';
    return h(
      'tr',
      { 'data-connector': c.name, 'data-state': c.state },
      h(
        'td',
        null,
        h('strong', null, c.name),
        c.source === 'config' ? h('div', { class: 'hint' }, 'from CONNECTORS') : null,
      ),
      h('td', { class: 'id', title: c.url }, c.url),
      h('td', null, h('span', { class: `tag state-${c.state}`, 'data-testid': 'connector-state' }, c.state), since),
      h('td', { class: 'num' }, c.cursor),
      h(
        'td',
        { class: 'num', 'data-testid': 'connector-lag' },
        `${c.lag.events} events`,
        h('div', { class: 'hint' }, `${c.lag.seconds.toFixed(1)} s`),
      ),
      h(
        'td',
        { title: c.last_error ?? '' },
        c.last_status === null ? '—' : String(c.last_status),
        c.last_error ? h('div', { class: 'detail', 'data-testid': 'connector-error' }, c.last_error) : null,
      ),
      h(
        'td',
        { class: 'num' },
        `${c.events_delivered} events`,
        h('div', { class: 'hint' }, `${c.deliveries} ok / ${c.failures} failed`),
      ),
      h(
        'td',
        null,
        h(
          'div',
          { class: 'actions' },
          c.paused ? act('Resume', 'resume') : act('Pause', 'pause'),
          act('Test', 'test'),
          replayFrom,
          replay,
        ),
      ),
    );
  }

  private async act(api: Api, name: string, action: string, body: unknown = {}): Promise<void> {
    const answer = await api.post<TestAnswer & { message?: string }>(
      `/admin/connectors/${encodeURIComponent(name)}/${action}`,
      body,
    );
    if (action === 'test') {
      const t = answer.body;
      this.notice.textContent = t.ok
        ? `Test delivery to ${name}: answered ${t.status} in ${t.duration_ms} ms.`
        : `Test delivery to ${name} failed: ${t.error ?? 'no answer'}`;
    } else if (answer.status >= 400)
      this.notice.textContent = `${action} ${name}: ${answer.body.message ?? answer.status}`;
    else this.notice.textContent = `${name}: ${action} done.`;
    await this.load(api);
  }
}
