import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';

/**
 * The hot path's stages, in order (issue #17): the MQTT message handed to
 * ingestion, its event queued on the bus, taken into a log batch, that batch
 * committed, the event written to its first client socket.
 */
export const STAGES = ['received', 'queued', 'sealed', 'committed', 'sent'] as const;
export type Stage = (typeof STAGES)[number];

/** p50, p99 and max of one stage-to-stage delay, in ms, over `count` events. */
export interface StageDelay {
  from: Stage;
  to: Stage;
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface StageReport {
  /** Each stage's delay after the one before it. */
  delays: StageDelay[];
  /** The same delays, averaged over the 1% of events slowest from `received` to `sent`: where the tail goes. */
  tail: { from: Stage; to: Stage; meanMs: number }[];
  /** Event-loop delay (monitorEventLoopDelay, 1 ms resolution) over the same time, in ms. */
  loopDelay: { p50: number; p99: number; max: number };
}

/** Events traced at most (a bench run's worth); later events are not stamped. */
const MAX_TRACED = 200_000;

/**
 * Per-stage timestamps of every event on the hot path, for benchmarks and
 * debugging only: off unless something calls `StageClock.start()` (the
 * delivery bench's server does), and then one WeakMap look-up per stage and
 * event. An event is known by its `data` object, which the router hands on
 * to the event unchanged and every later stage still holds, so no stage
 * needs an id it does not have yet.
 */
export class StageClock {
  private static running: StageClock | undefined;
  private readonly stamps = new WeakMap<object, Float64Array>();
  private readonly traced: Float64Array[] = [];
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 1 });

  private constructor() {
    this.loop.enable();
  }

  /** Starts tracing (again from nothing). */
  static start(): void {
    StageClock.running?.loop.disable();
    StageClock.running = new StageClock();
  }

  /** True while tracing: callers skip even the time look-up otherwise. */
  static get on(): boolean {
    return StageClock.running !== undefined;
  }

  /** Stamps `stage` now for the event whose data is `data` (the first stamp of an event must be `received`). */
  static mark(data: object, stage: Stage, at = performance.now()): void {
    StageClock.running?.mark(data, stage, at);
  }

  /** What was traced since `start`, then tracing stops. */
  static stop(): StageReport | undefined {
    const clock = StageClock.running;
    StageClock.running = undefined;
    if (clock === undefined) return undefined;
    clock.loop.disable();
    return clock.report();
  }

  private mark(data: object, stage: Stage, at: number): void {
    const index = STAGES.indexOf(stage);
    let stamps = this.stamps.get(data);
    if (stamps === undefined) {
      if (index !== 0 || this.traced.length >= MAX_TRACED) return;
      stamps = new Float64Array(STAGES.length).fill(Number.NaN);
      this.stamps.set(data, stamps);
      this.traced.push(stamps);
    }
    // The first time only: an event sent to many sockets is `sent` when its first frame is written.
    if (Number.isNaN(stamps[index])) stamps[index] = at;
  }

  private report(): StageReport {
    const complete = this.traced.filter((s) => s.every((t) => !Number.isNaN(t)));
    const last = STAGES.length - 1;
    const delays = STAGES.slice(1).map((to, i) => {
      const sorted = Float64Array.from(complete, (s) => s[i + 1] - s[i]).sort();
      return { from: STAGES[i], to, count: sorted.length, ...quantiles(sorted) };
    });
    const slowest = [...complete].sort((a, b) => b[last] - b[0] - (a[last] - a[0]));
    const tailEvents = slowest.slice(0, Math.max(1, Math.ceil(slowest.length / 100)));
    const tail = STAGES.slice(1).map((to, i) => ({
      from: STAGES[i],
      to,
      meanMs: tailEvents.reduce((sum, s) => sum + s[i + 1] - s[i], 0) / tailEvents.length,
    }));
    const ns = (v: number): number => v / 1e6;
    return {
      delays,
      tail,
      loopDelay: { p50: ns(this.loop.percentile(50)), p99: ns(this.loop.percentile(99)), max: ns(this.loop.max) },
    };
  }
}

function quantiles(sorted: Float64Array): { p50: number; p99: number; max: number } {
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? Number.NaN };
}
