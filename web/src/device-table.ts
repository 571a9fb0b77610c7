import { ago, coalesce, formatValue, h, replaceChildren } from './dom';
import type { DeviceState, DeviceStore } from './store';

/** At most this many readings in a row's summary cell. */
const READINGS_SHOWN = 4;

/**
 * The live device table: one row per device, rows updated in place (once
 * per frame, only the devices that changed), sorted by type and id.
 */
export class DeviceTable {
  readonly element: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly rows = new Map<string, HTMLTableRowElement>();
  private readonly dirty = new Set<string>();
  private readonly count: HTMLElement;
  private readonly schedule = coalesce(() => this.flush());

  constructor(
    private readonly store: DeviceStore,
    private readonly select: (key: string) => void,
  ) {
    this.body = h('tbody');
    this.count = h('span', { class: 'count', 'data-testid': 'device-count' }, '0');
    this.element = h(
      'section',
      { class: 'panel devices' },
      h('h2', null, 'Devices ', this.count),
      h(
        'table',
        { 'data-testid': 'device-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ...['Type', 'Id', 'Status', 'Last seen', 'Battery', 'Firmware', 'Latest readings'].map((t) =>
              h('th', null, t),
            ),
          ),
        ),
        this.body,
      ),
      h(
        'p',
        { class: 'empty', 'data-testid': 'no-devices' },
        'No devices yet: they appear with their first MQTT message.',
      ),
    );
    store.onChange((keys) => {
      for (const k of keys) this.dirty.add(k);
      this.schedule();
    });
    // "Last seen" is relative: refresh it while the page is open.
    setInterval(() => this.refreshTimes(), 1000);
  }

  private flush(): void {
    let added = false;
    for (const key of this.dirty) {
      const d = this.store.devices.get(key);
      if (!d) continue;
      let row = this.rows.get(key);
      if (!row) {
        row = h('tr', { 'data-device': key, tabindex: '0' });
        row.addEventListener('click', () => this.select(key));
        row.addEventListener('keydown', (e) => {
          if (e.key === 'Enter') this.select(key);
        });
        this.rows.set(key, row);
        added = true;
      }
      this.render(row, d);
    }
    this.dirty.clear();
    if (added) {
      const sorted = [...this.rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
      this.body.replaceChildren(...sorted);
    }
    this.count.textContent = String(this.rows.size);
    this.element.classList.toggle('has-devices', this.rows.size > 0);
  }

  private render(row: HTMLTableRowElement, d: DeviceState): void {
    const readings = Object.entries(d.readings)
      .slice(0, READINGS_SHOWN)
      .map(([name, r]) =>
        h('span', { class: 'reading', 'data-reading': name }, h('b', null, name), ' ', formatValue(r.value)),
      );
    row.dataset.status = d.status;
    replaceChildren(
      row,
      h('td', null, d.type),
      h('td', { class: 'id' }, d.id),
      h(
        'td',
        null,
        h('span', { class: `badge status-${d.status}`, 'data-testid': 'status' }, d.status.replace('_', ' ')),
      ),
      h('td', { class: 'seen', 'data-seen': String(d.lastSeen) }, d.lastSeen ? ago(d.lastSeen) : '—'),
      h('td', null, d.battery === null ? '—' : batteryGauge(d.battery)),
      h('td', null, d.firmware ?? '—'),
      h('td', { class: 'readings' }, ...readings),
    );
  }

  private refreshTimes(): void {
    const now = Date.now();
    for (const cell of this.body.querySelectorAll<HTMLElement>('td.seen')) {
      const seen = Number(cell.dataset.seen);
      if (seen) cell.textContent = ago(seen, now);
    }
  }
}

function batteryGauge(level: number): HTMLElement {
  const pct = Math.max(0, Math.min(100, level));
  return h(
    'span',
    { class: `battery${pct < 20 ? ' low' : ''}`, title: `${pct.toFixed(1)} %` },
    fill(pct),
    h('span', { class: 'label' }, `${Math.round(pct)} %`),
  );
}

/** Set through the style object, not a style attribute, which the page's Content-Security-Policy refuses. */
function fill(pct: number): HTMLElement {
  const el = h('span', { class: 'fill' });
  el.style.width = `${pct}%`;
  return el;
}
