import type { Api } from './api';
import { h, replaceChildren } from './dom';
import type { DeviceEvent } from './types';

/** Pages of 1000 read from the log at most when the view opens (then live events keep it current). */
const MAX_PAGES = 20;
/** Commands shown (and kept) at most, newest first. */
const KEPT = 100;

const SOURCES: Record<string, string> = { rest: 'REST', console: 'console', signalling: 'signalling channel' };

interface Sent {
  requestId: string;
  at: number;
  command: string;
  payload: unknown;
  source: string;
  /** Seconds the sender waited, when it did. */
  timeout?: number;
  answer?: Record<string, unknown>;
  answeredAt?: number;
}

/**
 * A device's command history (issue #19): its `command` events and the
 * `command_response`s that answer them, read from the event log (the poll
 * API from the first retained position), then kept current from the live
 * stream. Newest first; a command nobody answered within its `timeout` says so.
 */
export class CommandHistory {
  readonly element: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly state: HTMLElement;
  private readonly sent = new Map<string, Sent>();
  /** Answers that arrived before their command was seen (the log read and the stream overlap). */
  private readonly early = new Map<string, DeviceEvent>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly api: Api,
    private readonly type: string,
    private readonly id: string,
  ) {
    this.body = h('tbody');
    this.state = h('p', { class: 'hint', 'data-testid': 'command-history-state' }, 'Reading the command history…');
    this.element = h(
      'section',
      { class: 'command-history' },
      h('h3', null, 'Command history'),
      this.state,
      h(
        'table',
        { 'data-testid': 'command-history' },
        h(
          'thead',
          null,
          h('tr', null, ...['Time', 'Command', 'Payload', 'Sent by', 'Answer'].map((t) => h('th', null, t))),
        ),
        this.body,
      ),
    );
    // A command waiting for its answer turns into "no answer in time" by itself.
    this.timer = setInterval(() => {
      if ([...this.sent.values()].some((s) => !s.answer && s.timeout !== undefined)) this.render();
    }, 1000);
    void this.load();
  }

  destroy(): void {
    clearInterval(this.timer);
  }

  onEvent(e: DeviceEvent): void {
    if (e.device_type !== this.type || e.device_id !== this.id) return;
    if (e.event !== 'command' && e.event !== 'command_response') return;
    this.take(e);
    this.render();
  }

  private async load(): Promise<void> {
    const base = `/iot/poll/${encodeURIComponent(this.type)}/${encodeURIComponent(this.id)}/?event_types=command&event_types=command_response&limit=1000&client_id=console-history`;
    let cursor = '0';
    let pages = 0;
    try {
      for (; pages < MAX_PAGES; pages++) {
        const page = await this.api.get<{ events: DeviceEvent[]; cursor: string; more: boolean }>(
          `${base}&cursor=${encodeURIComponent(cursor)}`,
        );
        for (const e of page.events) this.take(e);
        cursor = page.cursor;
        if (!page.more) break;
      }
      this.state.dataset.state = 'loaded';
      this.state.textContent =
        pages >= MAX_PAGES
          ? `The newest ${KEPT} of the commands in the first ${MAX_PAGES * 1000} logged, then live.`
          : 'From the event log, then live.';
    } catch (err) {
      this.state.dataset.state = 'failed';
      this.state.textContent = `The history could not be read: ${err instanceof Error ? err.message : String(err)}. Showing live commands.`;
    }
    this.render();
  }

  private take(e: DeviceEvent): void {
    const requestId = e.data.request_id;
    if (typeof requestId !== 'string') return;
    const at = Date.parse(e.received_at ?? e.timestamp) || Date.now();
    if (e.event === 'command') {
      if (this.sent.has(requestId)) return;
      const s: Sent = {
        requestId,
        at,
        command: String(e.data.command),
        payload: e.data.payload,
        source: typeof e.data.source === 'string' ? e.data.source : 'rest',
        timeout: typeof e.data.timeout === 'number' ? e.data.timeout : undefined,
      };
      this.sent.set(requestId, s);
      const answer = this.early.get(requestId);
      if (answer) {
        this.early.delete(requestId);
        this.answer(s, answer, at);
      }
      if (this.sent.size > KEPT) this.sent.delete(this.sent.keys().next().value as string);
      return;
    }
    const s = this.sent.get(requestId);
    if (s) this.answer(s, e, at);
    else if (this.early.size < KEPT) this.early.set(requestId, e);
  }

  private answer(s: Sent, e: DeviceEvent, at: number): void {
    const { request_id: _id, ...answer } = e.data;
    s.answer = answer;
    s.answeredAt = at;
  }

  private render(): void {
    const now = Date.now();
    const rows = [...this.sent.values()]
      .sort((a, b) => b.at - a.at)
      .map((s) => {
        let state: string;
        let text: string;
        if (s.answer) {
          state = s.answer.error !== undefined ? 'error' : 'answered';
          const late = s.timeout !== undefined && s.answeredAt !== undefined && s.answeredAt - s.at > s.timeout * 1000;
          text = `${JSON.stringify(s.answer.error ?? s.answer.result ?? s.answer)}${late ? ' (after the timeout)' : ''}`;
        } else if (s.timeout !== undefined && now - s.at > s.timeout * 1000) {
          state = 'timeout';
          text = `timeout: no answer within ${s.timeout} s`;
        } else if (s.timeout !== undefined) {
          state = 'waiting';
          text = 'waiting…';
        } else {
          state = 'unanswered';
          text = 'no answer (not awaited)';
        }
        return h(
          'tr',
          { 'data-request': s.requestId, 'data-command': s.command, 'data-source': s.source, 'data-state': state },
          h('td', null, new Date(s.at).toLocaleTimeString()),
          h('td', null, s.command),
          h('td', { class: 'json', title: JSON.stringify(s.payload) }, JSON.stringify(s.payload)),
          h('td', null, SOURCES[s.source] ?? s.source),
          h('td', { class: `answer answer-${state}`, title: text }, text),
        );
      });
    replaceChildren(this.body, ...rows);
    this.element.classList.toggle('has-commands', rows.length > 0);
  }
}
