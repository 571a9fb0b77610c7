/** Latency samples (ms) summarised the way every benchmark here reports them. */
export interface Stats {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function stats(samples: number[]): Stats {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN };
}

export const ms = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)} ms` : 'n/a');
