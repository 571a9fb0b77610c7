import { formatValue } from './dom';
import type { DeviceState } from './store';
import { deviceKey } from './store';
import type { DeviceEvent } from './types';

/** Points in a row's sparkline. */
const SPARK_POINTS = 30;
/** Devices per history request, as `/api/readings/recent` allows. */
const HISTORY_BATCH = 200;
const SPARK_W = 96;
const SPARK_H = 22;
const SVG = 'http://www.w3.org/2000/svg';

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

/**
 * The device table's sparklines, one per device: its first numeric reading
 * (by name). A row's history is asked for once when the row first scrolls
 * into view, in one request for every row that appeared together (not one
 * per row), then the live stream appends to it. `changed` is told which
 * devices' sparklines history redrew.
 */
export class Sparklines {
  private readonly sparks = new Map<string, Spark>();
  /** Rows whose history was asked for (once each), and those about to be. */
  private readonly asked = new Set<string>();
  private readonly wanted = new Set<string>();
  /** Rows of the registry snapshot: a device first heard live has no history the stream did not bring. */
  private readonly known = new Set<string>();
  private readonly visibility: IntersectionObserver | undefined;

  constructor(
    private readonly changed: (keys: string[]) => void,
    private readonly history?: HistorySource,
  ) {
    if (history && typeof IntersectionObserver !== 'undefined') {
      // One callback brings every row that came into view in that frame: one request for them all.
      this.visibility = new IntersectionObserver((entries) => {
        for (const entry of entries) {
          const key = (entry.target as HTMLElement).dataset.device;
          if (!entry.isIntersecting || key === undefined || this.asked.has(key)) continue;
          this.wanted.add(key);
          this.visibility?.unobserve(entry.target);
        }
        this.askHistory();
      });
    }
  }

  /** Devices of the registry snapshot about to be loaded: their rows ask for history when first in view. */
  expect(keys: Iterable<string>): void {
    for (const k of keys) this.known.add(k);
  }

  /** A new row: it asks for its device's history once it comes into view (a device of the snapshot only). */
  watch(key: string, row: HTMLElement): void {
    if (this.known.has(key)) this.visibility?.observe(row);
  }

  /** A live `data` event adds its value: O(1) per event, drawn with its row. */
  add(e: DeviceEvent): void {
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

  /** A device first seen in the registry snapshot starts its sparkline with its latest reading. */
  seed(d: DeviceState): void {
    if (this.sparks.has(d.key)) return;
    const name = Object.keys(d.readings)
      .sort()
      .find((n) => typeof d.readings[n].value === 'number');
    if (name === undefined) return;
    const latest = d.readings[name];
    this.sparks.set(d.key, {
      name,
      values: [latest.value as number],
      times: [Date.parse(latest.timestamp) || d.lastSeen],
    });
  }

  /** A small SVG line of the last values (min to max of what it shows); nothing until there are two. */
  draw(key: string): Element | string {
    const s = this.sparks.get(key);
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

  /** Asks for the history of the rows that came into view, HISTORY_BATCH devices a request. */
  private askHistory(): void {
    const history = this.history;
    if (!history || this.wanted.size === 0) return;
    const keys = [...this.wanted];
    this.wanted.clear();
    for (const k of keys) this.asked.add(k);
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
    const redrawn: string[] = [];
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
      redrawn.push(key);
    }
    this.changed(redrawn);
  }
}

function push(s: Spark, value: number, time: number): void {
  s.values.push(value);
  s.times.push(time);
  if (s.values.length > SPARK_POINTS) {
    s.values.shift();
    s.times.shift();
  }
}
