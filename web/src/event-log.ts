import { coalesce, h } from './dom';
import type { DeviceEvent } from './types';

type Entry = DeviceEvent | { notice: string; at: number };

/** Events kept in memory for filtering; older ones fall off. */
const KEPT = 1000;
/** Rows shown at once. */
const SHOWN = 200;

/** The live event log, newest first, filtered by event type and device. */
export class EventLog {
  readonly element: HTMLElement;
  private readonly entries: Entry[] = [];
  private readonly list: HTMLTableSectionElement;
  private readonly typeFilter: HTMLSelectElement;
  private readonly deviceFilter: HTMLInputElement;
  private readonly schedule = coalesce(() => this.render());
  private paused = false;

  constructor() {
    this.typeFilter = h(
      'select',
      { 'data-testid': 'log-type', 'aria-label': 'Event type' },
      ...['', 'data', 'status', 'command', 'command_response'].map((t) => h('option', { value: t }, t || 'all events')),
    );
    this.deviceFilter = h('input', {
      type: 'search',
      placeholder: 'device type or id',
      'data-testid': 'log-device',
      'aria-label': 'Device',
    });
    const pause = h('button', { type: 'button', class: 'secondary' }, 'Pause');
    pause.addEventListener('click', () => {
      this.paused = !this.paused;
      pause.textContent = this.paused ? 'Resume' : 'Pause';
      if (!this.paused) this.schedule();
    });
    this.typeFilter.addEventListener('change', () => this.render());
    this.deviceFilter.addEventListener('input', () => this.render());
    this.list = h('tbody');
    this.element = h(
      'section',
      { class: 'panel log' },
      h('h2', null, 'Event log'),
      h('div', { class: 'filters' }, this.typeFilter, this.deviceFilter, pause),
      // One table, scrolled inside its box with the header kept on top: the cells and their headers share columns.
      h(
        'div',
        { class: 'log-scroll' },
        h(
          'table',
          { 'data-testid': 'event-log' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ...['Time', 'Id', 'Event', 'Device', 'Data'].map((t) => h('th', { class: `col-${t.toLowerCase()}` }, t)),
            ),
          ),
          this.list,
        ),
      ),
    );
  }

  add(event: DeviceEvent): void {
    this.keep(event);
  }

  /** A line in the log that is not an event, shown whatever the filter (a gap is never silent, bridge.md). */
  notice(text: string): void {
    this.keep({ notice: text, at: Date.now() });
  }

  private keep(entry: Entry): void {
    this.entries.push(entry);
    if (this.entries.length > KEPT) this.entries.splice(0, this.entries.length - KEPT);
    if (!this.paused) this.schedule();
  }

  /** Shows only this device's events, as the per-device view does. */
  filterDevice(text: string): void {
    this.deviceFilter.value = text;
    this.render();
  }

  private render(): void {
    const type = this.typeFilter.value;
    const device = this.deviceFilter.value.trim().toLowerCase();
    const rows: HTMLTableRowElement[] = [];
    for (let i = this.entries.length - 1; i >= 0 && rows.length < SHOWN; i--) {
      const e = this.entries[i];
      if ('notice' in e) {
        rows.push(
          h(
            'tr',
            { class: 'notice' },
            h('td', null, new Date(e.at).toLocaleTimeString()),
            h('td', { colspan: '4' }, e.notice),
          ),
        );
        continue;
      }
      if (type && e.event !== type) continue;
      const name = `${e.device_type}/${e.device_id}`;
      if (device && !name.toLowerCase().includes(device)) continue;
      rows.push(
        h(
          'tr',
          { 'data-id': e.id, 'data-event': e.event, 'data-device': name },
          h('td', null, new Date(e.timestamp).toLocaleTimeString()),
          h('td', { class: 'id' }, e.id),
          h('td', null, h('span', { class: `tag event-${e.event}` }, e.event)),
          h('td', { title: name }, name),
          h('td', { class: 'json', title: JSON.stringify(e.data) }, JSON.stringify(e.data)),
        ),
      );
    }
    this.list.replaceChildren(...rows);
  }
}
