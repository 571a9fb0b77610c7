import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';

/** How much of a reading's recent past a chart shows (and asks the readings API for). */
export const CHART_WINDOW_MS = 10 * 60_000;
const PALETTE = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

/**
 * One numeric reading over the last minutes, drawn by uPlot: history from
 * the readings API, then a point per live `data` event. Points are kept in
 * time order and older ones fall out of the window.
 */
export class ReadingChart {
  readonly element: HTMLElement;
  private xs: number[] = [];
  private ys: number[] = [];
  private readonly plot: uPlot;
  private readonly resize: ResizeObserver;
  private readonly caption: HTMLElement;

  constructor(
    readonly name: string,
    index: number,
    unit: string | undefined,
  ) {
    const holder = h('div', { class: 'plot' });
    this.caption = h('figcaption', null, name);
    this.setUnit(unit);
    this.element = h('figure', { class: 'chart', 'data-reading': name, 'data-points': '0' }, this.caption, holder);
    const color = PALETTE[index % PALETTE.length];
    this.plot = new uPlot(
      {
        width: 480,
        height: 180,
        legend: { show: false },
        scales: { x: { time: true } },
        series: [{}, { label: name, stroke: color, width: 2, fill: `${color}1a`, points: { show: true, size: 4 } }],
        // One time of day per tick: the chart spans minutes, and uPlot's second row of dates would overlap.
        axes: [{ space: 80, values: (_u, ticks) => ticks.map((t) => timeOfDay(t)) }, { size: 56 }],
      },
      [[], []],
      holder,
    );
    this.resize = new ResizeObserver(() => {
      const width = holder.clientWidth;
      if (width > 0) this.plot.setSize({ width, height: 180 });
    });
    this.resize.observe(holder);
  }

  setUnit(unit: string | undefined): void {
    this.caption.textContent = unit ? `${this.name} (${unit})` : this.name;
  }

  get points(): number {
    return this.xs.length;
  }

  /** Adds samples (ms since the epoch) wherever they fall in time; a sample already there is not added twice. */
  add(samples: { at: number; value: number }[]): void {
    for (const { at, value } of samples) {
      const x = at / 1000;
      let i = this.xs.length;
      while (i > 0 && this.xs[i - 1] > x) i--;
      if (i > 0 && this.xs[i - 1] === x && this.ys[i - 1] === value) continue;
      this.xs.splice(i, 0, x);
      this.ys.splice(i, 0, value);
    }
    const oldest = (Date.now() - CHART_WINDOW_MS) / 1000;
    let drop = 0;
    while (drop < this.xs.length - 1 && this.xs[drop] < oldest) drop++;
    if (drop > 0) {
      this.xs.splice(0, drop);
      this.ys.splice(0, drop);
    }
    this.plot.setData([this.xs, this.ys]);
    this.element.dataset.points = String(this.xs.length);
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot.destroy();
  }
}

const TIME_OF_DAY = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function timeOfDay(seconds: number): string {
  return TIME_OF_DAY.format(seconds * 1000);
}
