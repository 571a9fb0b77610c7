import { Api, ApiError } from './api';
import { ADMIN_TOKEN_KEY, adminTokenForm } from './admin-token';
import { h, replaceChildren } from './dom';
import type { RejectView } from './types';

const LIST_LIMIT = 500;

interface RejectsAnswer {
  rejects: RejectView[];
  counts: Record<string, number>;
}

/**
 * Rejected MQTT messages (`GET /admin/rejects`, issue #19): time, topic,
 * reason and the raw payload, always as text (never parsed as HTML), with a
 * copy button; filtered by reason (by the service) and by device (here);
 * counts by reason since start-up. Needs the admin token, asked for here.
 */
export class RejectsPage {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private reason = '';
  private device = '';

  constructor() {
    this.body = h('div', { class: 'rejects-body' });
    this.element = h(
      'section',
      { class: 'panel rejects', 'data-testid': 'rejects-page' },
      h('h2', null, 'Rejected messages ', h('span', { class: 'needs-admin' }, 'admin token')),
      this.body,
    );
    const stored = sessionStorage.getItem(ADMIN_TOKEN_KEY);
    if (stored) void this.load(stored);
    else this.askToken();
  }

  private askToken(problem?: string): void {
    replaceChildren(
      this.body,
      adminTokenForm(problem, (token) => void this.load(token)),
    );
  }

  private async load(token: string): Promise<void> {
    const api = new Api(token);
    const query = new URLSearchParams({ limit: String(LIST_LIMIT) });
    if (this.reason) query.set('reason', this.reason);
    let answer: RejectsAnswer;
    try {
      answer = await api.get<RejectsAnswer>(`/admin/rejects?${query.toString()}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        sessionStorage.removeItem(ADMIN_TOKEN_KEY);
        this.askToken(`That admin token was refused (401): ${err.message}. Check ADMIN_TOKEN and try again.`);
        return;
      }
      replaceChildren(
        this.body,
        h('p', { class: 'error', 'data-testid': 'rejects-error' }, `The rejects could not be read: ${String(err)}`),
      );
      return;
    }
    sessionStorage.setItem(ADMIN_TOKEN_KEY, token);
    this.render(token, answer);
  }

  private render(token: string, answer: RejectsAnswer): void {
    const reasons = Object.keys(answer.counts);
    const reasonSelect = h(
      'select',
      { 'data-testid': 'rejects-reason', 'aria-label': 'Reason' },
      h('option', { value: '' }, 'every reason'),
      ...reasons.map((r) => h('option', { value: r }, r)),
    );
    reasonSelect.value = this.reason;
    reasonSelect.addEventListener('change', () => {
      this.reason = reasonSelect.value;
      void this.load(token);
    });
    const deviceInput = h('input', {
      type: 'search',
      placeholder: 'device type or id',
      'data-testid': 'rejects-device',
      'aria-label': 'Device',
      value: this.device,
    });
    const refresh = h('button', { type: 'button', class: 'secondary', 'data-testid': 'rejects-refresh' }, 'Refresh');
    refresh.addEventListener('click', () => void this.load(token));
    const forget = h(
      'button',
      { type: 'button', class: 'secondary', 'data-testid': 'admin-token-forget' },
      'Forget the admin token',
    );
    forget.addEventListener('click', () => {
      sessionStorage.removeItem(ADMIN_TOKEN_KEY);
      this.askToken();
    });
    const counts = h(
      'ul',
      { class: 'reason-counts', 'data-testid': 'reject-counts' },
      ...Object.entries(answer.counts)
        .filter(([, n]) => n > 0)
        .sort(([, a], [, b]) => b - a)
        .map(([reason, n]) => h('li', { 'data-reason': reason }, h('strong', null, String(n)), ` ${reason}`)),
    );
    const tbody = h('tbody');
    const table = h(
      'table',
      { 'data-testid': 'rejects-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ...['Time', 'Topic', 'Reason', 'Payload', ''].map((t) =>
            h('th', { class: `col-${t.toLowerCase() || 'copy'}` }, t),
          ),
        ),
      ),
      tbody,
    );
    const empty = h('p', { class: 'hint', 'data-testid': 'rejects-empty' });
    const show = (): void => {
      const device = this.device.toLowerCase();
      const rows = answer.rejects
        .filter((r) => !device || topicDevice(r.topic).toLowerCase().includes(device))
        .map(rejectRow);
      tbody.replaceChildren(...rows);
      empty.textContent = rows.length === 0 ? 'No rejected messages match.' : `${rows.length} shown, newest first.`;
    };
    deviceInput.addEventListener('input', () => {
      this.device = deviceInput.value.trim();
      show();
    });
    show();
    replaceChildren(
      this.body,
      h('p', { class: 'hint' }, 'Counts since the service started, by reason:'),
      counts.childElementCount > 0 ? counts : h('p', { class: 'hint' }, 'none yet'),
      h('div', { class: 'filters' }, reasonSelect, deviceInput, refresh, forget),
      empty,
      h('div', { class: 'rejects-scroll' }, table),
    );
  }
}

/** `{prefix}/{type}/{id}/…` names the device as `type/id`; any other topic is matched whole. */
function topicDevice(topic: string): string {
  const parts = topic.split('/');
  return parts.length >= 3 ? `${parts[1]}/${parts[2]}` : topic;
}

function rejectRow(r: RejectView): HTMLTableRowElement {
  // textContent, never innerHTML: a payload is whatever a device sent, markup included.
  const payload = h('pre', { class: 'payload', 'data-testid': 'reject-payload' }, r.payload);
  const copy = h(
    'button',
    { type: 'button', class: 'secondary copy', 'data-testid': 'reject-copy', title: 'Copy the raw payload' },
    'Copy',
  );
  copy.addEventListener('click', () => {
    void navigator.clipboard.writeText(r.payload).then(
      () => {
        copy.textContent = 'Copied';
        copy.dataset.state = 'copied';
      },
      () => {
        // No clipboard (an insecure origin, say): select the text so that Ctrl+C copies it.
        const range = document.createRange();
        range.selectNodeContents(payload);
        getSelection()?.removeAllRanges();
        getSelection()?.addRange(range);
        copy.textContent = 'Selected';
        copy.dataset.state = 'selected';
      },
    );
  });
  return h(
    'tr',
    { 'data-reject': String(r.id), 'data-reason': r.reason },
    h('td', null, new Date(r.received_at).toLocaleTimeString()),
    h('td', { class: 'id', title: r.topic }, r.topic),
    h('td', { title: r.detail }, h('span', { class: 'tag' }, r.reason), h('div', { class: 'detail' }, r.detail)),
    h(
      'td',
      null,
      payload,
      h(
        'div',
        { class: 'hint' },
        `${r.payload_size} bytes${r.payload_encoding === 'base64' ? ', base64 (not UTF-8 text)' : ''}`,
      ),
    ),
    h('td', null, copy),
  );
}
