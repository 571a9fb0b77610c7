import type { Api } from './api';
import { CommandForm } from './command-form';
import { CommandHistory } from './command-history';
import { ago, formatValue, h, replaceChildren } from './dom';
import { CHART_WINDOW_MS, ReadingChart } from './reading-chart';
import type { DeviceStore } from './store';
import type { DeviceEvent, DeviceTypeView, ReadingsAnswer } from './types';

/** Rows asked of the readings API for the chart window. */
const HISTORY_LIMIT = 10_000;

/**
 * One device: its state, a live chart per numeric reading (history from
 * `GET /api/devices/{type}/{id}/readings`, then each `data` event), and the
 * command form.
 */
export class DeviceView {
  readonly element: HTMLElement;
  private readonly charts = new Map<string, ReadingChart>();
  private readonly chartArea: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly history: HTMLElement;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly unsubscribe: () => void;
  private declared: DeviceTypeView | undefined;
  private readonly commandHistory: CommandHistory;

  constructor(
    private readonly api: Api,
    private readonly store: DeviceStore,
    readonly key: string,
    private readonly type: string,
    private readonly id: string,
    close: () => void,
  ) {
    const closeButton = h('button', { type: 'button', class: 'secondary', 'aria-label': 'Close' }, '×');
    closeButton.addEventListener('click', close);
    this.summary = h('dl', { class: 'summary' });
    this.chartArea = h('div', { class: 'charts', 'data-testid': 'charts' });
    this.history = h('p', { class: 'hint', 'data-testid': 'history-state' }, 'Loading history…');
    const commands = h('div', { class: 'command-slot' });
    this.commandHistory = new CommandHistory(api, type, id);
    this.element = h(
      'section',
      { class: 'panel device-view', 'data-testid': 'device-view', 'data-device': key },
      h('header', null, h('h2', null, `${type} / `, h('span', { class: 'id' }, id)), closeButton),
      this.summary,
      this.history,
      this.chartArea,
      commands,
      this.commandHistory.element,
    );
    this.renderSummary();
    this.unsubscribe = store.onChange((keys) => {
      if (keys.has(key)) this.renderSummary();
    });
    this.timer = setInterval(() => this.renderSummary(), 1000);
    void this.loadDeclaration().then(() => {
      commands.replaceChildren(new CommandForm(api, type, id, this.declared?.commands).element);
      for (const chart of this.charts.values()) chart.setUnit(this.declared?.readings?.[chart.name]?.unit);
    });
    void this.loadHistory();
  }

  /** The type's declaration (`GET /api/device-types/{type}`); undeclared types take any command. */
  private async loadDeclaration(): Promise<void> {
    try {
      this.declared = await this.api.get<DeviceTypeView>(`/api/device-types/${encodeURIComponent(this.type)}`);
    } catch {
      this.declared = undefined;
    }
  }

  /** Every live event; this view takes its device's `data` events. */
  onEvent(e: DeviceEvent): void {
    this.commandHistory.onEvent(e);
    if (e.event !== 'data' || e.device_type !== this.type || e.device_id !== this.id) return;
    const at = Date.parse(e.timestamp);
    if (Number.isNaN(at)) return;
    for (const [name, value] of Object.entries(e.data)) {
      if (typeof value === 'number' && name !== 'timestamp') this.chart(name).add([{ at, value }]);
    }
  }

  destroy(): void {
    clearInterval(this.timer);
    this.commandHistory.destroy();
    this.unsubscribe();
    for (const c of this.charts.values()) c.destroy();
  }

  private async loadHistory(): Promise<void> {
    const start = new Date(Date.now() - CHART_WINDOW_MS).toISOString();
    const path = `/api/devices/${encodeURIComponent(this.type)}/${encodeURIComponent(this.id)}/readings?start=${encodeURIComponent(start)}&limit=${HISTORY_LIMIT}`;
    try {
      const answer = await this.api.get<ReadingsAnswer>(path);
      const byName = new Map<string, { at: number; value: number }[]>();
      for (const r of answer.readings ?? []) {
        const at = Date.parse(r.timestamp);
        if (typeof r.value !== 'number' || Number.isNaN(at)) continue;
        let list = byName.get(r.name);
        if (!list) byName.set(r.name, (list = []));
        list.push({ at, value: r.value });
      }
      for (const [name, samples] of byName) this.chart(name).add(samples);
      const count = answer.readings?.length ?? 0;
      this.history.textContent = `${count} readings from the last ${CHART_WINDOW_MS / 60_000} minutes, then live.`;
      this.history.dataset.state = 'loaded';
    } catch (err) {
      this.history.textContent = `History unavailable: ${err instanceof Error ? err.message : String(err)}. Showing live readings.`;
      this.history.dataset.state = 'failed';
    }
  }

  private chart(name: string): ReadingChart {
    let chart = this.charts.get(name);
    if (!chart) {
      chart = new ReadingChart(name, this.charts.size, this.declared?.readings?.[name]?.unit);
      this.charts.set(name, chart);
      const sorted = [...this.charts.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
      this.chartArea.replaceChildren(...sorted.map((c) => c.element));
    }
    return chart;
  }

  private renderSummary(): void {
    const d = this.store.devices.get(this.key);
    if (!d) return;
    const others = Object.entries(d.readings).filter(([, r]) => typeof r.value !== 'number');
    replaceChildren(
      this.summary,
      h('dt', null, 'Status'),
      h(
        'dd',
        null,
        h('span', { class: `badge status-${d.status}`, 'data-testid': 'view-status' }, d.status.replace('_', ' ')),
      ),
      h('dt', null, 'Last seen'),
      h('dd', null, d.lastSeen ? `${ago(d.lastSeen)} (${new Date(d.lastSeen).toLocaleString()})` : '—'),
      h('dt', null, 'Battery'),
      h('dd', null, d.battery === null ? '—' : `${d.battery.toFixed(1)} %`),
      h('dt', null, 'Firmware'),
      h('dd', null, d.firmware ?? '—'),
      ...others.flatMap(([name, r]) => [h('dt', null, name), h('dd', null, formatValue(r.value))]),
    );
  }
}
