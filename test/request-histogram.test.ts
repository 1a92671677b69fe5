/**
 * The request histogram (src/lib/request-histogram.ts) keeps its own counts and hands them to
 * prom-client's registry at scrape time: the exposition text and the JSON must be what a prom-client
 * Histogram gives for the same observations, bucket edges and awkward label values included.
 * Stores: SQLite only: nothing here touches a store (one run is enough).
 */
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestHistogram } from '../src/lib/request-histogram.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const NAME = 'shahn_http_request_duration_seconds';
const HELP = 'API requests by route, method and status';

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  const fast = new RequestHistogram(NAME, HELP, BUCKETS, ours);
  const reference = new Histogram({ name: NAME, help: HELP, labelNames: ['route', 'method', 'status'], buckets: BUCKETS, registers: [theirs] });
  const observe = (route: string, method: string, status: number, seconds: number) => {
    fast.observe(route, method, status, seconds);
    reference.labels(route, method, String(status)).observe(seconds);
  };
  return { ours, theirs, fast, observe };
}

describe('the request histogram', () => {
  it('writes the text and JSON of a prom-client Histogram for the same observations', async () => {
    const { ours, theirs, fast, observe } = pair();
    // Nothing observed yet: only the HELP and TYPE lines.
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // Values on every edge (le is inclusive), between edges, past the last one, and zero.
    const values = [0, 0.0005, 0.00050001, 0.001, 0.003, 0.01, 0.07, 0.5, 1, 2.5, 9.99, 10, 10.5, 120];
    const routes: [string, string, number][] = [
      ['/v3/mobile/check-id/:id', 'GET', 200],
      ['/v3/mobile/send', 'POST', 200],
      ['/v3/mobile/check-id/:id', 'GET', 404],
      ['unmatched', 'GET', 404],
      ['/v3/mobile/send', 'POST', 400],
      ['/a "quoted" \\ route\nwith a newline', 'POST', 503],
    ];
    values.forEach((v, i) => {
      for (const [route, method, status] of routes.slice(0, 1 + (i % routes.length))) observe(route, method, status, v);
    });
    // A recorder fixed in advance (the hot paths' way) adds to the same series.
    const record = fast.recorder('/v3/mobile/send', 'POST');
    const reference = theirs.getSingleMetric(NAME) as Histogram;
    for (const v of [0.0007, 0.2]) {
      record(200, v);
      reference.labels('/v3/mobile/send', 'POST', '200').observe(v);
    }
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    const sends = values.filter((_, i) => i % routes.length >= 1).length + 2;
    expect(text).toContain(`${NAME}_count{route="/v3/mobile/send",method="POST",status="200"} ${sends}\n`);
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
  });

  it('reset drops every series, and recorders made before it go on counting', async () => {
    const { ours, theirs, fast, observe } = pair();
    const record = fast.recorder('/v3/mobile/check-id/:id', 'GET');
    observe('/v3/mobile/check-id/:id', 'GET', 200, 0.002);
    ours.resetMetrics();
    theirs.resetMetrics();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    record(200, 0.004);
    (theirs.getSingleMetric(NAME) as Histogram).labels('/v3/mobile/check-id/:id', 'GET', '200').observe(0.004);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });
});
