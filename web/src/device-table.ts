import { ago, coalesce, formatValue, h, replaceChildren } from './dom';
import type { DeviceState, DeviceStore } from './store';
import { deviceKey } from './store';
import type { DeviceEvent } from './types';
import { STATUSES } from './types';

/** At most this many readings in a row's summary cell. */
const READINGS_SHOWN = 4;
/** Characters of a reading's value shown in the table (the device view shows it whole). */
const READING_CHARS = 40;
/** Points in a row's sparkline. */
const SPARK_POINTS = 30;
/** Devices per history request, as `/api/readings/recent` allows. */
const HISTORY_BATCH = 200;
const SPARK_W = 96;
const SPARK_H = 22;
/** Heartbeat interval (s) of undeclared types, until `/api/stats` says otherwise. */
const DEFAULT_HEARTBEAT_SEC = 300;
const SVG = 'http://www.w3.org/2000/svg';

type SortKey = 'type' | 'id' | 'status' | 'seen';

/** A row's sparkline: one reading's last values and their sample times (ms). */
interface Spark {
  name: string;
  values: number[];
  times: number[];
}

/** What `GET /api/readings/recent` answers. */
export interface RecentReadings {
  devices: {
    device_type: string;
    device_id: string;
    reading: string | null;
    readings: { timestamp: string; value: number }[];
  }[];
}

/** Asks `GET /api/readings/recent` for these devices (`type/id`, at most HISTORY_BATCH) and `limit` samples. */
export type HistorySource = (devices: string[], limit: number) => Promise<RecentReadings>;
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
 * seen. Each row has a sparkline of its first numeric reading: its history
 * is asked for once when the row first scrolls into view, in one request
 * for every row that appeared together (not one per row), then the live
 * stream appends to it. A device not heard for longer than
 * its heartbeat interval shows as `silent` until the sweep marks it offline.
 */
export class DeviceTable {
  readonly element: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly rows = new Map<string, HTMLTableRowElement>();
  private readonly sparks = new Map<string, Spark>();
  /** Rows whose history was asked for (once each), and those about to be. */
  private readonly historyAsked = new Set<string>();
  private readonly historyWanted = new Set<string>();
  /** Rows of the registry snapshot: a device first heard live has no history the stream did not bring. */
  private readonly historyKnown = new Set<string>();
  private readonly visibility: IntersectionObserver | undefined;
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
    private readonly history?: HistorySource,
  ) {
    if (history && typeof IntersectionObserver !== 'undefined') {
      // One callback brings every row that came into view in that frame: one request for them all.
      this.visibility = new IntersectionObserver((entries) => {
        for (const entry of entries) {
          const key = (entry.target as HTMLElement).dataset.device;
          if (!entry.isIntersecting || key === undefined || this.historyAsked.has(key)) continue;
          this.historyWanted.add(key);
          this.visibility?.unobserve(entry.target);
        }
        this.askHistory();
      });
    }
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
    for (const k of keys) this.historyKnown.add(k);
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
        if (this.historyKnown.has(key)) this.visibility?.observe(row);
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
      this.spark(key, d);
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

  /**
   * Every live `data` event adds its value to the device's sparkline (its
   * first numeric reading, by name): O(1) per event, drawn at the next frame.
   */
  addEvent(e: DeviceEvent): void {
    if (e.event !== 'data') return;
    const key = deviceKey(e.device_type, e.device_id);
    let s = this.sparks.get(key);
    const name =
      s?.name ??
      Object.keys(e.data)
        .sort()
        .find((n) => n !== 'timestamp' && typeof e.data[n] === 'number');
    if (name === undefined) return;
    const value = e.data[name];
    if (typeof value !== 'number') return;
    if (!s) this.sparks.set(key, (s = { name, values: [], times: [] }));
    push(s, value, Date.parse(e.timestamp) || Date.now());
  }

  /** Asks for the history of the rows that came into view, HISTORY_BATCH devices a request. */
  private askHistory(): void {
    const history = this.history;
    if (!history || this.historyWanted.size === 0) return;
    const keys = [...this.historyWanted];
    this.historyWanted.clear();
    for (const k of keys) this.historyAsked.add(k);
    for (let i = 0; i < keys.length; i += HISTORY_BATCH) {
      history(keys.slice(i, i + HISTORY_BATCH), SPARK_POINTS).then(
        (answer) => this.mergeHistory(answer),
        // Without history the sparkline still grows from the stream; asking again would only repeat the failure.
        () => undefined,
      );
    }
  }

  /**
   * History goes before what the stream brought meanwhile: the stored
   * samples, then the live values of the same reading sampled after them.
   */
  private mergeHistory(answer: RecentReadings): void {
    for (const d of answer.devices) {
      if (d.reading === null || d.readings.length === 0) continue;
      const key = deviceKey(d.device_type, d.device_id);
      const live = this.sparks.get(key);
      const merged: Spark = { name: d.reading, values: [], times: [] };
      for (const r of d.readings) push(merged, r.value, Date.parse(r.timestamp));
      const last = merged.times[merged.times.length - 1];
      if (live && live.name === d.reading) {
        for (let i = 0; i < live.values.length; i++)
          if (live.times[i] > last) push(merged, live.values[i], live.times[i]);
      }
      this.sparks.set(key, merged);
      this.dirty.add(key);
    }
    this.schedule();
  }

  /** A device first seen in the registry snapshot starts its sparkline with its latest reading. */
  private spark(key: string, d: DeviceState): void {
    if (this.sparks.has(key)) return;
    const name = Object.keys(d.readings)
      .sort()
      .find((n) => typeof d.readings[n].value === 'number');
    if (name === undefined) return;
    const latest = d.readings[name];
    this.sparks.set(key, {
      name,
      values: [latest.value as number],
      times: [Date.parse(latest.timestamp) || d.lastSeen],
    });
  }

  private render(row: HTMLTableRowElement, d: DeviceState): void {
    const readings = Object.entries(d.readings)
      .slice(0, READINGS_SHOWN)
      .map(([name, r]) =>
        h('span', { class: 'reading', 'data-reading': name }, h('b', null, name), ' ', clip(formatValue(r.value))),
      );
    const status = this.displayStatus(d);
    this.shown.set(d.key, status);
    row.dataset.status = d.status;
    row.dataset.shown = status;
    const title = status === 'silent' ? `${d.status}, but not heard for longer than its heartbeat interval` : undefined;
    replaceChildren(
      row,
      h('td', null, d.type),
      h('td', { class: 'id' }, d.id),
      h(
        'td',
        null,
        h('span', { class: `badge status-${status}`, 'data-testid': 'status', title }, status.replace('_', ' ')),
      ),
      h('td', { class: 'seen', 'data-seen': String(d.lastSeen) }, d.lastSeen ? ago(d.lastSeen) : '—'),
      h('td', null, d.battery === null ? '—' : batteryGauge(d.battery)),
      h('td', null, d.firmware ?? '—'),
      h('td', { class: 'trend' }, sparkline(this.sparks.get(d.key))),
      h('td', { class: 'readings' }, ...readings),
    );
  }
}

/** A small SVG line of the last values (min to max of what it shows); nothing until there are two. */
function push(s: Spark, value: number, time: number): void {
  s.values.push(value);
  s.times.push(time);
  if (s.values.length > SPARK_POINTS) {
    s.values.shift();
    s.times.shift();
  }
}

function sparkline(s: Spark | undefined): Element | string {
  if (!s || s.values.length < 2) return '—';
  const min = Math.min(...s.values);
  const max = Math.max(...s.values);
  const span = max - min || 1;
  const step = SPARK_W / (s.values.length - 1);
  const points = s.values
    .map((v, i) => `${(i * step).toFixed(1)},${(SPARK_H - 2 - ((v - min) / span) * (SPARK_H - 4)).toFixed(1)}`)
    .join(' ');
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'sparkline');
  svg.setAttribute('width', String(SPARK_W));
  svg.setAttribute('height', String(SPARK_H));
  svg.setAttribute('viewBox', `0 0 ${SPARK_W} ${SPARK_H}`);
  svg.setAttribute('data-reading', s.name);
  svg.setAttribute('data-points', String(s.values.length));
  const title = document.createElementNS(SVG, 'title');
  title.textContent = `${s.name}: last ${s.values.length} readings, ${formatValue(min)} to ${formatValue(max)}`;
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', points);
  svg.append(title, line);
  return svg;
}

/** A reading as a table cell shows it: long texts cut, so that a row never runs past the table. */
function clip(text: string): string {
  return text.length > READING_CHARS ? `${text.slice(0, READING_CHARS)}…` : text;
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
