import { ago, formatValue, h } from './dom';
import type { DeviceState } from './store';

/** At most this many readings in a row's summary cell. */
const READINGS_SHOWN = 4;
/** Characters of a reading's value shown in the table (the device view shows it whole). */
const READING_CHARS = 40;

/**
 * One device table row's cells: type, id, the status as shown (`silent`
 * included, with why in its title), last seen, battery gauge, firmware, the
 * sparkline `trend`, and the first readings.
 */
export function deviceCells(d: DeviceState, status: string, trend: Element | string): HTMLElement[] {
  const readings = Object.entries(d.readings)
    .slice(0, READINGS_SHOWN)
    .map(([name, r]) =>
      h('span', { class: 'reading', 'data-reading': name }, h('b', null, name), ' ', clip(formatValue(r.value))),
    );
  const title = status === 'silent' ? `${d.status}, but not heard for longer than its heartbeat interval` : undefined;
  return [
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
    h('td', { class: 'trend' }, trend),
    h('td', { class: 'readings' }, ...readings),
  ];
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
