/**
 * The request-duration histogram, recorded at the cost of an array increment.
 *
 * prom-client's labelled child validates and hashes its labels on every `observe` (a fresh label
 * string and object per call): on the check-id hot path, about 1 µs of a 40 µs request. Here each
 * series (route, method, status) is found once and keeps plain counts; the hot paths hold a recorder
 * for their own route and method, so an observation is a lookup by status and an increment.
 *
 * At scrape time the series are handed to prom-client's registry in the shape its own Histogram
 * produces (`_bucket` lines with cumulative counts and `le`, then `+Inf`, `_sum`, `_count`; the
 * series' labels as shared labels), so the registry writes the same text a prom-client Histogram
 * would (test/request-histogram.test.ts compares them).
 */
import type { Metric, Registry } from 'prom-client';

type Labels = { route: string; method: string; status: string };

class Series {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    buckets: number,
  ) {
    this.counts = new Float64Array(buckets);
  }
}

/** Records one observation of its route and method: (status, seconds). */
export type RequestRecorder = (status: number, seconds: number) => void;

export class RequestHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** Every series in the order it was first observed (prom-client's order too). */
  private series: Series[] = [];
  /** Each recorder's series by status (emptied by reset(), as prom-client's reset drops every series). */
  private readonly byStatusMaps: Map<number, Series>[] = [];
  private readonly recorders = new Map<string, RequestRecorder>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The recorder of one route and method (kept: the same function for the same pair). */
  recorder(route: string, method: string): RequestRecorder {
    const key = `${method} ${route}`;
    let rec = this.recorders.get(key);
    if (rec === undefined) {
      const byStatus = new Map<number, Series>();
      this.byStatusMaps.push(byStatus);
      const bounds = this.upperBounds;
      rec = (status, seconds) => {
        if (!Number.isFinite(seconds)) return;
        let s = byStatus.get(status);
        if (s === undefined) {
          s = new Series({ route, method, status: String(status) }, bounds.length);
          byStatus.set(status, s);
          this.series.push(s);
        }
        // The first bucket whose upper bound holds the value (le); past the last one only +Inf counts it.
        for (let i = 0; i < bounds.length; i++) {
          if (seconds <= bounds[i]!) {
            s.counts[i]!++;
            break;
          }
        }
        s.sum += seconds;
        s.count++;
      };
      this.recorders.set(key, rec);
    }
    return rec;
  }

  observe(route: string, method: string, status: number, seconds: number): void {
    this.recorder(route, method)(status, seconds);
  }

  /** What prom-client's registry formats (its Histogram's getForPromString shape). */
  getForPromString() {
    const bucket = `${this.name}_bucket`;
    const values: { labels: Record<string, string | number>; sharedLabels: Labels; value: number; metricName: string; exemplar: null | undefined }[] = [];
    for (const s of this.series) {
      let acc = 0;
      for (let i = 0; i < this.upperBounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.upperBounds[i]! }, sharedLabels: s.labels, value: acc, metricName: bucket, exemplar: null });
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The same with the shared labels folded in (the registry's JSON form, as prom-client's Histogram gives it). */
  get() {
    const data = this.getForPromString();
    return { ...data, values: data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })) };
  }

  reset(): void {
    this.series = [];
    for (const m of this.byStatusMaps) m.clear();
  }
}
