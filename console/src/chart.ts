// A small SVG line chart, drawn here: no library, no inline style (classes and SVG attributes
// only, which the CSP allows). Each chart has a text alternative: a title, a description with
// the latest, peak and mean values, and the page shows the numbers in a table too.

import { s } from './dom';

export interface Point {
  t: number; // seconds since the epoch
  v: number;
}

const W = 900;
const H = 200;
const PAD = { l: 52, r: 12, t: 12, b: 28 };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function clock(t: number, seconds = false): string {
  return new Date(t * 1000).toISOString().slice(11, seconds ? 19 : 16);
}

export function lineChart(title: string, unit: string, points: Point[], cls: string): SVGElement {
  const id = `chart-${cls}`;
  const max = niceMax(Math.max(0, ...points.map((p) => p.v)));
  const t0 = points.length ? points[0].t : 0;
  const t1 = points.length ? points[points.length - 1].t : 1;
  const span = Math.max(1, t1 - t0);
  const x = (t: number): number => PAD.l + ((t - t0) / span) * (W - PAD.l - PAD.r);
  const y = (v: number): number => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const latest = points.length ? points[points.length - 1].v : 0;
  const peak = Math.max(0, ...points.map((p) => p.v));
  const mean = points.length ? points.reduce((a, p) => a + p.v, 0) / points.length : 0;
  const desc = points.length
    ? `${points.length} samples from ${clock(t0)} to ${clock(t1)} UTC. Latest ${fmt(latest)} ${unit}, peak ${fmt(peak)}, mean ${fmt(mean)}.`
    : 'No samples yet.';

  const grid: SVGElement[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    grid.push(s('line', { class: 'grid', x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v) }));
    grid.push(s('text', { class: 'axis', x: PAD.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v)));
  }
  if (points.length) {
    for (let i = 0; i <= 4; i++) {
      const t = t0 + (span * i) / 4;
      grid.push(s('text', { class: 'axis', x: x(t), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' }, clock(t, span < 600)));
    }
  }
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
  const area = points.length ? `${path} L${x(t1).toFixed(1)},${y(0)} L${x(t0).toFixed(1)},${y(0)} Z` : '';
  return s(
    'svg',
    { class: `chart ${cls}`, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${id}-t ${id}-d`, preserveAspectRatio: 'xMidYMid meet' },
    s('title', { id: `${id}-t` }, `${title} (${unit})`),
    s('desc', { id: `${id}-d` }, desc),
    grid,
    s('line', { class: 'axis-line', x1: PAD.l, x2: W - PAD.r, y1: y(0), y2: y(0) }),
    points.length ? s('path', { class: 'area', d: area }) : null,
    points.length ? s('path', { class: 'line', d: path }) : s('text', { class: 'axis', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'No samples yet'),
  );
}

/** Rates per second from the metrics history: each sample counts what was answered during
 * `[t, t + 10 s)` (docs/CONSOLE.md), so its rate is its count over its interval. */
export function rates<T extends { t: number }>(history: T[], pick: (x: T) => number, interval = 10): Point[] {
  return history.map((x) => ({ t: x.t > 1e12 ? x.t / 1000 : x.t, v: Math.max(0, pick(x)) / interval }));
}
