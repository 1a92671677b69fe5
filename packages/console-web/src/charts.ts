/**
 * Charts drawn as inline SVG (no library): stacked bars of orders per status over time, a histogram
 * of time to a final state, a line of the balance over time. Each has a title and a text summary
 * for screen readers (role="img" with aria-label), and a table fallback in a <details>.
 */
import { h, s } from './dom.js';

export const STATUS_COLORS: Record<string, string> = {
  PENDING: '#9aa5b1',
  HANDLING: '#3b82f6',
  FULFILLED: '#16a34a',
  REFUNDED: '#d97706',
  UNKNOWN_ERROR: '#dc2626',
};

const W = 640;
const H = 220;
const PAD = { l: 44, r: 12, t: 12, b: 28 };

function axis(max: number): SVGElement[] {
  const els: SVGElement[] = [];
  const steps = 4;
  for (let i = 0; i <= steps; i++) {
    const v = (max * i) / steps;
    const y = H - PAD.b - ((H - PAD.t - PAD.b) * i) / steps;
    els.push(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: 'grid' }));
    els.push(s('text', { x: PAD.l - 6, y: y + 4, 'text-anchor': 'end', class: 'tick' }, Number.isInteger(v) ? String(v) : v.toFixed(1)));
  }
  return els;
}

function svgRoot(label: string): SVGElement {
  return s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, class: 'chart', preserveAspectRatio: 'xMidYMid meet' });
}

function niceMax(v: number): number {
  if (v <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return v;
}

export function stackedBars(title: string, buckets: { t: string; counts: Record<string, number> }[], statuses: string[], tickLabel: (t: string) => string): HTMLElement {
  const totals = buckets.map((b) => statuses.reduce((n, st) => n + (b.counts[st] ?? 0), 0));
  const sum = totals.reduce((a, b) => a + b, 0);
  const max = niceMax(Math.max(0, ...totals));
  const summary = `${title}: ${sum} orders; ${statuses.map((st) => `${st} ${buckets.reduce((n, b) => n + (b.counts[st] ?? 0), 0)}`).join(', ')}`;
  const svg = svgRoot(summary);
  for (const el of axis(max)) svg.appendChild(el);
  const plotW = W - PAD.l - PAD.r;
  const plotH = H - PAD.t - PAD.b;
  const bw = plotW / Math.max(1, buckets.length);
  buckets.forEach((b, i) => {
    let y = H - PAD.b;
    for (const st of statuses) {
      const n = b.counts[st] ?? 0;
      if (!n) continue;
      const bh = (n / max) * plotH;
      y -= bh;
      svg.appendChild(s('rect', { x: PAD.l + i * bw + 1, y, width: Math.max(1, bw - 2), height: bh, fill: STATUS_COLORS[st] ?? '#888' }, s('title', {}, `${tickLabel(b.t)} ${st}: ${n}`)));
    }
    const every = Math.ceil(buckets.length / 8);
    if (i % every === 0) svg.appendChild(s('text', { x: PAD.l + i * bw + bw / 2, y: H - 8, 'text-anchor': 'middle', class: 'tick' }, tickLabel(b.t)));
  });
  const legend = h('ul', { class: 'legend' }, statuses.map((st) => h('li', null, h('span', { class: `swatch sw-${st}`, 'aria-hidden': 'true' }), st)));
  return figure(title, svg, legend, ['Time', ...statuses], buckets.filter((_, i) => totals[i]).map((b) => [tickLabel(b.t), ...statuses.map((st) => String(b.counts[st] ?? 0))]));
}

export function histogram(title: string, bins: { label: string; count: number }[], caption: string): HTMLElement {
  const max = niceMax(Math.max(0, ...bins.map((b) => b.count)));
  const svg = svgRoot(`${title}: ${bins.map((b) => `${b.label} ${b.count}`).join(', ')}`);
  for (const el of axis(max)) svg.appendChild(el);
  const plotW = W - PAD.l - PAD.r;
  const plotH = H - PAD.t - PAD.b;
  const bw = plotW / Math.max(1, bins.length);
  bins.forEach((b, i) => {
    const bh = (b.count / max) * plotH;
    svg.appendChild(s('rect', { x: PAD.l + i * bw + 4, y: H - PAD.b - bh, width: bw - 8, height: bh, fill: '#3b82f6' }, s('title', {}, `${b.label}: ${b.count}`)));
    svg.appendChild(s('text', { x: PAD.l + i * bw + bw / 2, y: H - 8, 'text-anchor': 'middle', class: 'tick' }, b.label));
  });
  return figure(title, svg, h('p', { class: 'muted' }, caption), ['Seconds', 'Orders'], bins.map((b) => [b.label, String(b.count)]));
}

export function line(title: string, points: { t: string; v: number }[], format: (v: number) => string, tickLabel: (t: string) => string): HTMLElement {
  if (points.length === 0) return figure(title, h('p', { class: 'muted' }, '—'), null, [], []);
  const vs = points.map((p) => p.v);
  const max = niceMax(Math.max(...vs, 1));
  const t0 = Date.parse(points[0]!.t);
  const t1 = Math.max(Date.parse(points[points.length - 1]!.t), t0 + 1);
  const x = (t: string) => PAD.l + ((Date.parse(t) - t0) / (t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const svg = svgRoot(`${title}: from ${format(vs[0]!)} to ${format(vs[vs.length - 1]!)} over ${points.length} entries`);
  for (const el of axis(max)) svg.appendChild(el);
  // A step line: the balance holds until the next entry.
  let d = `M ${x(points[0]!.t)} ${y(points[0]!.v)}`;
  for (let i = 1; i < points.length; i++) d += ` H ${x(points[i]!.t)} V ${y(points[i]!.v)}`;
  svg.appendChild(s('path', { d, fill: 'none', stroke: '#16a34a', 'stroke-width': 2 }));
  svg.appendChild(s('text', { x: PAD.l, y: H - 8, class: 'tick' }, tickLabel(points[0]!.t)));
  svg.appendChild(s('text', { x: W - PAD.r, y: H - 8, 'text-anchor': 'end', class: 'tick' }, tickLabel(points[points.length - 1]!.t)));
  return figure(title, svg, null, ['Time', 'Balance'], points.slice(-20).map((p) => [tickLabel(p.t), format(p.v)]));
}

function figure(title: string, chart: Element, extra: HTMLElement | null, head: string[], rows: string[][]): HTMLElement {
  return h(
    'figure',
    { class: 'card chart-card' },
    h('figcaption', null, title),
    chart,
    extra,
    rows.length
      ? h('details', null, h('summary', null, 'Data'), h('table', null, h('thead', null, h('tr', null, head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', null, rows.map((r) => h('tr', null, r.map((c) => h('td', null, c)))))))
      : null,
  );
}
