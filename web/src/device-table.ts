import { ago, coalesce, h, replaceChildren } from './dom';
import { deviceCells } from './device-row';
import type { DeviceState, DeviceStore } from './store';
import type { HistorySource } from './sparklines';
import { Sparklines } from './sparklines';
import type { DeviceEvent } from './types';
import { STATUSES } from './types';

/** Heartbeat interval (s) of undeclared types, until `/api/stats` says otherwise. */
const DEFAULT_HEARTBEAT_SEC = 300;

type SortKey = 'type' | 'id' | 'status' | 'seen';

/** "Last seen" filter: heard within the last N ms, or not heard for N ms (negative). */
const SEEN_FILTERS: Record<string, { label: string; test: (ageMs: number) => boolean }> = {
  '': { label: 'seen any time', test: () => true },
  '1m': { label: 'seen in the last minute', test: (a) => a <= 60_000 },
  '10m': { label: 'seen in the last 10 min', test: (a) => a <= 600_000 },
  stale: { label: 'not seen for 10 min', test: (a) => a > 600_000 },
};

export interface TableFilter {
  type: string;
  /** A device status, or `silent`. */
  status: string;
  seen: string;
}

/**
 * The live device table: one row per device, rows updated in place (once
 * per frame, only the devices that changed). Sorted by a column the
 * operator picks, filtered by type, status (`silent` included) and last
 * seen. Each row has a sparkline of its first numeric reading, history
 * first, then the live stream (sparklines.ts). A device not heard for longer than
 * its heartbeat interval shows as `silent` until the sweep marks it offline.
 */
export class DeviceTable {
  readonly element: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly rows = new Map<string, HTMLTableRowElement>();
  private readonly sparklines: Sparklines;
  private readonly shown = new Map<string, string>();
  private readonly dirty = new Set<string>();
  private readonly count: HTMLElement;
  private readonly schedule = coalesce(() => this.flush());
  private readonly typeSelect: HTMLSelectElement;
  private readonly statusSelect: HTMLSelectElement;
  private readonly seenSelect: HTMLSelectElement;
  private readonly headers = new Map<SortKey, HTMLElement>();
  private heartbeats: Record<string, number> = {};
  private defaultHeartbeat = DEFAULT_HEARTBEAT_SEC;
  private sortKey: SortKey = 'type';
  private sortDir = 1;
  private resort = true;

  constructor(
    private readonly store: DeviceStore,
    private readonly select: (key: string) => void,
    private readonly onStatusFilter: (status: string | undefined) => void = () => undefined,
    history?: HistorySource,
  ) {
    this.sparklines = new Sparklines((keys) => {
      for (const k of keys) this.dirty.add(k);
      this.schedule();
    }, history);
    this.body = h('tbody');
    this.count = h('span', { class: 'count', 'data-testid': 'device-count' }, '0');
    this.typeSelect = h(
      'select',
      { 'data-testid': 'filter-type', 'aria-label': 'Type' },
      h('option', { value: '' }, 'every type'),
    );
    this.statusSelect = h(
      'select',
      { 'data-testid': 'filter-status', 'aria-label': 'Status' },
      h('option', { value: '' }, 'every status'),
      ...[...STATUSES, 'silent'].map((s) => h('option', { value: s }, s.replace('_', ' '))),
    );
    this.seenSelect = h(
      'select',
      { 'data-testid': 'filter-seen', 'aria-label': 'Last seen' },
      ...Object.entries(SEEN_FILTERS).map(([value, f]) => h('option', { value }, f.label)),
    );
    for (const s of [this.typeSelect, this.statusSelect, this.seenSelect]) {
      s.addEventListener('change', () => {
        if (s === this.statusSelect) this.onStatusFilter(s.value || undefined);
        this.refilter();
      });
    }
    const header = (label: string, key?: SortKey): HTMLElement => {
      if (!key) return h('th', null, label);
      const button = h('button', { type: 'button', class: 'sort', 'data-sort': key }, label);
      button.addEventListener('click', () => this.sortBy(key));
      const th = h('th', { 'aria-sort': 'none' }, button);
      this.headers.set(key, th);
      return th;
    };
    this.element = h(
      'section',
      { class: 'panel devices' },
      h('h2', null, 'Devices ', this.count),
      h('div', { class: 'filters' }, this.typeSelect, this.statusSelect, this.seenSelect),
      h(
        'table',
        { 'data-testid': 'device-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            header('Type', 'type'),
            header('Id', 'id'),
            header('Status', 'status'),
            header('Last seen', 'seen'),
            header('Battery'),
            header('Firmware'),
            header('Trend'),
            header('Latest readings'),
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
    this.markSort();
    store.onChange((keys) => {
      for (const k of keys) this.dirty.add(k);
      this.schedule();
    });
    // "Last seen" is relative, and silence comes with time: refresh both while the page is open.
    setInterval(() => this.tick(), 1000);
  }

  /** Devices of the registry snapshot about to be loaded: their rows ask for history when first in view. */
  expectHistory(keys: Iterable<string>): void {
    this.sparklines.expect(keys);
  }

  /** Heartbeat intervals by type (seconds), as `/api/stats` reports them. */
  setHeartbeats(intervals: Record<string, number>, fallback: number): void {
    this.heartbeats = intervals;
    this.defaultHeartbeat = fallback;
  }

  /** Filters by status (`silent` included), as the overview's counts do; undefined shows every status. */
  filterStatus(status: string | undefined): void {
    this.statusSelect.value = status ?? '';
    this.refilter();
  }

  /** What a row shows as its status: the registry's, or `silent` past the heartbeat (not offline yet). */
  displayStatus(d: DeviceState, now = Date.now()): string {
    if (d.status === 'offline' || d.status === 'provisioning' || d.lastSeen === 0) return d.status;
    const heartbeatMs = (this.heartbeats[d.type] ?? this.defaultHeartbeat) * 1000;
    return now - d.lastSeen > heartbeatMs ? 'silent' : d.status;
  }

  private sortBy(key: SortKey): void {
    if (this.sortKey === key) this.sortDir = -this.sortDir;
    else {
      this.sortKey = key;
      // Newest first is what an operator wants from "last seen".
      this.sortDir = key === 'seen' ? -1 : 1;
    }
    this.markSort();
    this.resort = true;
    this.schedule();
  }

  private markSort(): void {
    for (const [key, th] of this.headers) {
      th.setAttribute('aria-sort', key === this.sortKey ? (this.sortDir > 0 ? 'ascending' : 'descending') : 'none');
    }
  }

  private refilter(): void {
    this.resort = true;
    this.flush();
  }

  private tick(): void {
    const now = Date.now();
    for (const [key, row] of this.rows) {
      const d = this.store.devices.get(key);
      if (!d) continue;
      const cell = row.querySelector<HTMLElement>('td.seen');
      if (cell && d.lastSeen) cell.textContent = ago(d.lastSeen, now);
      if (this.displayStatus(d, now) !== this.shown.get(key)) this.dirty.add(key);
    }
    // A "last seen" filter or sort changes with time too.
    if (this.seenSelect.value !== '' || this.statusSelect.value === 'silent') this.resort = true;
    if (this.dirty.size > 0 || this.resort) this.schedule();
  }

  private flush(): void {
    for (const key of this.dirty) {
      const d = this.store.devices.get(key);
      if (!d) continue;
      let row = this.rows.get(key);
      if (!row) {
        row = h('tr', { 'data-device': key, tabindex: '0' });
        const k = key;
        row.addEventListener('click', () => this.select(k));
        row.addEventListener('keydown', (e) => {
          if (e.key === 'Enter') this.select(k);
        });
        this.rows.set(key, row);
        this.sparklines.watch(key, row);
        this.resort = true;
        if (![...this.typeSelect.options].some((o) => o.value === d.type)) {
          const chosen = this.typeSelect.value;
          const options = [...this.typeSelect.options].slice(1).map((o) => o.value);
          options.push(d.type);
          options.sort();
          this.typeSelect.replaceChildren(
            this.typeSelect.options[0],
            ...options.map((t) => h('option', { value: t }, t)),
          );
          this.typeSelect.value = chosen;
        }
      }
      this.sparklines.seed(d);
      const before = this.shown.get(key);
      this.render(row, d);
      if (before !== this.shown.get(key) || this.sortKey === 'seen') this.resort = true;
    }
    this.dirty.clear();
    if (this.resort) this.arrange();
    this.element.classList.toggle('has-devices', this.rows.size > 0);
  }

  /** Sorts and filters every row: a pass over the devices when a row is added or a sort or filter changes. */
  private arrange(): void {
    this.resort = false;
    const now = Date.now();
    const type = this.typeSelect.value;
    const status = this.statusSelect.value;
    const seen = SEEN_FILTERS[this.seenSelect.value] ?? SEEN_FILTERS[''];
    const visible: [DeviceState, HTMLTableRowElement][] = [];
    for (const [key, row] of this.rows) {
      const d = this.store.devices.get(key);
      if (!d) continue;
      if (type && d.type !== type) continue;
      if (status && this.shown.get(key) !== status) continue;
      if (!seen.test(d.lastSeen ? now - d.lastSeen : Number.POSITIVE_INFINITY)) continue;
      visible.push([d, row]);
    }
    const dir = this.sortDir;
    const text = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
    const byKey = (a: DeviceState, b: DeviceState): number => {
      switch (this.sortKey) {
        case 'type':
          return text(a.type, b.type) || text(a.id, b.id);
        case 'id':
          return text(a.id, b.id) || text(a.type, b.type);
        case 'status':
          return text(this.shown.get(a.key) ?? '', this.shown.get(b.key) ?? '') || text(a.key, b.key);
        case 'seen':
          return a.lastSeen - b.lastSeen || text(a.key, b.key);
      }
    };
    visible.sort(([a], [b]) => dir * byKey(a, b));
    this.body.replaceChildren(...visible.map(([, r]) => r));
    this.count.textContent =
      visible.length === this.rows.size ? String(this.rows.size) : `${visible.length} of ${this.rows.size}`;
  }

  /** Every live `data` event adds its value to the device's sparkline, drawn at the next frame. */
  addEvent(e: DeviceEvent): void {
    this.sparklines.add(e);
  }

  private render(row: HTMLTableRowElement, d: DeviceState): void {
    const status = this.displayStatus(d);
    this.shown.set(d.key, status);
    row.dataset.status = d.status;
    row.dataset.shown = status;
    replaceChildren(row, ...deviceCells(d, status, this.sparklines.draw(d.key)));
  }
}
