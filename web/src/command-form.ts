import type { Api } from './api';
import { ApiError } from './api';
import { h, replaceChildren } from './dom';
import type { DeviceTypeView } from './types';

/** Commands every simulated or DeviceHub-style device understands, offered when the type declares none. */
const COMMON_COMMANDS: Record<string, Record<string, unknown>> = { reboot: {}, set_interval: { interval: 60 } };
const DEFAULT_TIMEOUT_SEC = 10;

/**
 * Sends a command (`POST /api/devices/{type}/{id}/commands` with a timeout)
 * and shows what the device answered, or the 504 when it did not.
 */
export class CommandForm {
  readonly element: HTMLElement;
  private readonly result: HTMLElement;

  constructor(
    private readonly api: Api,
    private readonly type: string,
    private readonly id: string,
    declared: DeviceTypeView['commands'] | undefined,
  ) {
    const examples = declared ? examplePayloads(declared) : COMMON_COMMANDS;
    const names = Object.keys(examples);
    const listId = `commands-${Math.random().toString(36).slice(2)}`;
    const command = h('input', {
      name: 'command',
      list: listId,
      required: '',
      value: names[0] ?? '',
      autocomplete: 'off',
      'data-testid': 'command-name',
    });
    const payload = h('textarea', {
      name: 'payload',
      rows: '3',
      spellcheck: 'false',
      'data-testid': 'command-payload',
    });
    payload.value = JSON.stringify(examples[names[0]] ?? {});
    const timeout = h('input', {
      name: 'timeout',
      type: 'number',
      min: '0.1',
      max: '300',
      step: '0.1',
      value: String(DEFAULT_TIMEOUT_SEC),
    });
    // Picking a known command fills in its example payload, until the operator writes a payload of their own.
    let payloadEdited = false;
    payload.addEventListener('input', () => (payloadEdited = true));
    command.addEventListener('input', () => {
      const example = examples[command.value];
      if (example && !payloadEdited) payload.value = JSON.stringify(example);
    });
    const send = h('button', { type: 'submit', 'data-testid': 'command-send' }, 'Send');
    this.result = h('pre', { class: 'command-result', 'data-testid': 'command-result', 'aria-live': 'polite' });
    const form = h(
      'form',
      { class: 'command-form', 'data-testid': 'command-form' },
      h('datalist', { id: listId }, ...names.map((n) => h('option', { value: n }))),
      h('label', null, 'Command', command),
      h('label', null, 'Payload (JSON)', payload),
      h('label', null, 'Wait for the answer (s)', timeout),
      send,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      send.disabled = true;
      void this.send(command.value.trim(), payload.value, Number(timeout.value) || DEFAULT_TIMEOUT_SEC).finally(() => {
        send.disabled = false;
      });
    });
    this.element = h('section', { class: 'commands' }, h('h3', null, 'Send a command'), form, this.result);
  }

  private async send(command: string, payloadText: string, timeout: number): Promise<void> {
    let payload: unknown;
    try {
      payload = payloadText.trim() ? JSON.parse(payloadText) : {};
    } catch {
      this.show('error', 'The payload is not valid JSON');
      return;
    }
    this.show('waiting', `Sent ${command}, waiting up to ${timeout} s for the device…`);
    try {
      const path = `/api/devices/${encodeURIComponent(this.type)}/${encodeURIComponent(this.id)}/commands`;
      // The header makes the command event say `source: "console"` (the device's command history shows it).
      const answer = await this.api.post<Record<string, unknown>>(
        path,
        { command, payload, timeout },
        { 'X-Command-Source': 'console' },
      );
      const body = answer.body;
      const state =
        answer.status === 504 ? 'timeout' : answer.status >= 400 || body.error !== undefined ? 'error' : 'answered';
      const title =
        state === 'timeout'
          ? 'No answer in time (504)'
          : state === 'answered'
            ? `The device answered (${answer.status})`
            : `Refused or failed (${answer.status})`;
      this.show(state, title, body);
    } catch (err) {
      this.show('error', err instanceof ApiError ? `${err.status} ${err.code}: ${err.message}` : String(err));
    }
  }

  private show(state: string, title: string, body?: unknown): void {
    this.result.dataset.state = state;
    replaceChildren(
      this.result,
      h('strong', null, title),
      body === undefined ? null : `\n${JSON.stringify(body, null, 2)}`,
    );
  }
}

/** A starting payload for each declared command: each required field at its range's low end, else an empty value of its type. */
function examplePayloads(declared: NonNullable<DeviceTypeView['commands']>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, spec] of Object.entries(declared)) {
    const example: Record<string, unknown> = {};
    for (const [field, s] of Object.entries(spec.payload)) {
      if (s.required === false) continue;
      if (s.range) example[field] = s.range[0];
      else if (s.type === 'string') example[field] = '';
      else if (s.type === 'boolean') example[field] = false;
      else example[field] = 0;
    }
    out[name] = example;
  }
  return out;
}
