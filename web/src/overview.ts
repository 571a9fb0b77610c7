import uPlot from 'uplot';
import type { Api } from './api';
import { ApiError } from './api';
import { h, replaceChildren } from './dom';
import type { StatsView } from './types';

/** How often the overview asks `GET /api/stats` (the service samples its counters every 2 s). */
const REFRESH_MS = 2000;

/** The counts an operator can click to filter the device table by. */
const COUNTS = [
  { key: 'online', label: 'online' },
  { key: 'offline', label: 'offline' },
  { key: 'error', label: 'in error' },
  { key: 'silent', label: 'silent' },
] as const;

/**
 * The fleet overview at the top of the page (issue #19): device counts
 * (each a filter for the table), messages and rejects per second over the
 * last minutes (uPlot), the event log's lag and write time, the state of
 * the broker, database and Redis as `/health` sees them, and the instances.
 * All from one request, `GET /api/stats`, every 2 s.
 */
export class FleetOverview {
  readonly element: HTMLElement;
  private readonly counts: HTMLElement;
  private readonly log: HTMLElement;
  private readonly backends: HTMLElement;
  private readonly instances: HTMLElement;
  private readonly problem: HTMLElement;
  private readonly holder: HTMLElement;
  private plot: uPlot | undefined;
  private readonly resize: ResizeObserver;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private active: string | undefined;

  constructor(
    private readonly api: Api,
    private readonly filter: (status: string | undefined) => void,
    private readonly onStats: (stats: StatsView) => void,
  ) {
    this.counts = h('div', { class: 'counts', 'data-testid': 'fleet-counts' });
    this.holder = h('div', { class: 'rate-plot', 'data-testid': 'rate-chart', 'data-points': '0' });
    this.log = h('dl', { class: 'facts', 'data-testid': 'log-stats' });
    this.backends = h('ul', { class: 'backends', 'data-testid': 'backends' });
    this.instances = h('ul', { class: 'instances', 'data-testid': 'instances' });
    this.problem = h('p', { class: 'error', 'data-testid': 'stats-error', hidden: '' });
    this.element = h(
      'section',
      { class: 'panel overview', 'data-testid': 'overview' },
      h('div', { class: 'overview-block' }, h('h2', null, 'Fleet'), this.counts),
      h(
        'div',
        { class: 'overview-block rates' },
        h('h2', null, 'Messages/s ', h('span', { class: 'legend rejects' }, 'rejects/s')),
        this.holder,
      ),
      h('div', { class: 'overview-block' }, h('h2', null, 'Event log'), this.log),
      h('div', { class: 'overview-block' }, h('h2', null, 'Backends'), this.backends, this.instances),
      this.problem,
    );
    this.resize = new ResizeObserver(() => {
      const width = this.holder.clientWidth;
      if (width > 0) this.plot?.setSize({ width, height: 90 });
    });
    this.resize.observe(this.holder);
  }

  start(): void {
    void this.refresh();
  }

  /** The status the table is filtered by, when it was set from here or from the table. */
  setActive(status: string | undefined): void {
    this.active = status;
    for (const b of this.counts.querySelectorAll<HTMLElement>('button[data-status]')) {
      b.setAttribute('aria-pressed', String(b.dataset.status === status));
    }
  }

  private async refresh(): Promise<void> {
    try {
      const stats = await this.api.get<StatsView>('/api/stats');
      this.problem.hidden = true;
      this.render(stats);
      this.onStats(stats);
    } catch (err) {
      this.problem.hidden = false;
      this.problem.textContent = `Fleet figures unavailable: ${err instanceof ApiError ? `${err.status} ${err.message}` : String(err)}`;
    }
    this.timer = setTimeout(() => void this.refresh(), REFRESH_MS);
  }

  destroy(): void {
    clearTimeout(this.timer);
    this.resize.disconnect();
    this.plot?.destroy();
  }

  private render(s: StatsView): void {
    replaceChildren(
      this.counts,
      ...COUNTS.map(({ key, label }) => {
        const b = h(
          'button',
          {
            type: 'button',
            class: `count-button status-${key}`,
            'data-status': key,
            'data-testid': `count-${key}`,
            'aria-pressed': String(this.active === key),
            title: `Show only ${label} devices`,
          },
          h('strong', null, String(s.devices[key])),
          ` ${label}`,
        );
        b.addEventListener('click', () => {
          const next = this.active === key ? undefined : key;
          this.setActive(next);
          this.filter(next);
        });
        return b;
      }),
      h('span', { class: 'total' }, `${s.devices.total} devices`),
    );
    this.chart(s);
    const avg = s.log.avg_write_ms;
    replaceChildren(
      this.log,
      h('dt', null, 'Lag'),
      h('dd', { 'data-testid': 'log-lag' }, `${s.log.lag_ms} ms (${s.log.pending_events} waiting)`),
      h('dt', null, 'Write'),
      h(
        'dd',
        { 'data-testid': 'log-write' },
        `${avg === null ? '—' : `${avg.toFixed(2)} ms`} avg, ${s.log.last_write_ms.toFixed(2)} ms last`,
      ),
      h('dt', null, 'Written'),
      h('dd', null, `${s.log.events} events in ${s.log.batches} batches`),
    );
    const state = (name: string, up: boolean | undefined, detail?: string): HTMLElement =>
      h(
        'li',
        { 'data-backend': name, 'data-state': up === undefined ? 'absent' : up ? 'up' : 'down', title: detail },
        h('span', { class: 'dot' }),
        `${name} ${up === undefined ? 'not used' : up ? 'up' : 'down'}`,
      );
    replaceChildren(
      this.backends,
      state('broker', s.health.broker.connected),
      state('database', s.health.database.connected, s.health.database.error),
      state('redis', s.health.redis?.connected),
      h('li', { 'data-backend': 'service', 'data-state': s.health.status }, `health: ${s.health.status}`),
    );
    replaceChildren(
      this.instances,
      ...s.instances.map((i) =>
        h(
          'li',
          { 'data-instance': i.id, 'data-state': i.up ? 'up' : 'down', 'data-leader': String(i.leader) },
          h('span', { class: 'dot' }),
          h('code', { title: i.id }, i.id.slice(0, 8)),
          i.self ? ' (this one)' : '',
          i.up ? '' : ' down',
          i.leader
            ? h('span', { class: 'badge leader', title: 'Runs the once-only duties: offline sweep, pruning' }, 'leader')
            : null,
        ),
      ),
    );
  }

  private chart(s: StatsView): void {
    const xs = s.rates.points.map((p) => Date.parse(p.at) / 1000);
    const data: uPlot.AlignedData = [
      xs,
      s.rates.points.map((p) => p.messages_per_sec),
      s.rates.points.map((p) => p.rejects_per_sec),
    ];
    if (!this.plot) {
      this.plot = new uPlot(
        {
          width: Math.max(200, this.holder.clientWidth),
          height: 90,
          legend: { show: false },
          cursor: { show: false },
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
          series: [
            {},
            { label: 'messages/s', stroke: '#2563eb', width: 2, fill: '#2563eb1a' },
            { label: 'rejects/s', stroke: '#dc2626', width: 2 },
          ],
          axes: [{ show: false }, { size: 40, ticks: { show: false } }],
        },
        data,
        this.holder,
      );
    } else this.plot.setData(data);
    this.holder.dataset.points = String(xs.length);
    const last = s.rates.points[s.rates.points.length - 1];
    this.holder.dataset.messages = String(last?.messages_per_sec ?? 0);
    this.holder.dataset.rejects = String(last?.rejects_per_sec ?? 0);
    this.holder.dataset.maxMessages = String(Math.max(0, ...s.rates.points.map((p) => p.messages_per_sec)));
    this.holder.dataset.maxRejects = String(Math.max(0, ...s.rates.points.map((p) => p.rejects_per_sec)));
  }
}
