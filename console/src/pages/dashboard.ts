// The dashboard: request, error and throttle rates over time from cofferd's metrics history
// (what was answered in each 10-second interval), and the totals per operation.

import { explain, metrics, Metrics } from '../api';
import { alertBox, field, fmtTime, h, render } from '../dom';
import { lineChart, rates } from '../chart';

const REFRESH_MS = 10_000;

// The two rows that are not operations (docs/CONSOLE.md).
const OPERATION_LABELS: Record<string, string> = {
  none: 'Refused before naming an operation',
  unknown: 'Operations that do not exist',
};

function seconds(t: number): number {
  return t > 1e12 ? t / 1000 : t;
}

export function dashboardPage(): void {
  const charts = h('div', { class: 'charts' });
  const errors = h('div', { class: 'errors' });
  const updated = h('p', { class: 'summary' });
  const tbody = h('tbody');
  const refresh = h('button', { type: 'button', class: 'secondary' }, 'Refresh');
  const windowSel = h(
    'select',
    { name: 'window' },
    h('option', { value: '300' }, 'last 5 minutes'),
    h('option', { value: '900' }, 'last 15 minutes'),
    h('option', { value: '1800' }, 'last 30 minutes'),
    h('option', { value: '0' }, 'everything kept'),
  );
  windowSel.value = '900';
  let last: Metrics | null = null;
  const table = h(
    'table',
    { class: 'data ops' },
    h('caption', {}, 'Requests per operation since cofferd started'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Operation'), h('th', { scope: 'col', class: 'num' }, 'Requests'), h('th', { scope: 'col', class: 'num' }, 'Errors'), h('th', { scope: 'col', class: 'num' }, 'Throttled'))),
    tbody,
  );
  const root = render(
    'Dashboard',
    h('div', { class: 'page-head' }, h('h1', {}, 'Dashboard'), h('div', { class: 'head-tools' }, field('Show', windowSel), refresh)),
    errors,
    updated,
    charts,
    h('div', { class: 'table-wrap' }, table),
  );

  function draw(m: Metrics): void {
    last = m;
    const span = Number(windowSel.value);
    const all = m.history ?? [];
    const end = all.length ? seconds(all[all.length - 1].t) : 0;
    const hist = span ? all.filter((x) => seconds(x.t) >= end - span) : all;
    const series: [string, string, (x: Metrics['history'][number]) => number][] = [
      ['Requests', 'requests', (x) => x.requests],
      ['Errors', 'errors', (x) => x.errors],
      ['Throttled requests', 'throttles', (x) => x.throttles],
    ];
    charts.replaceChildren(
      ...series.map(([title, cls, pick]) => {
        const pts = rates(hist, pick);
        const latest = pts.length ? pts[pts.length - 1].v : 0;
        return h(
          'figure',
          { class: 'card chart-card' },
          h('figcaption', {}, h('span', { class: 'chart-title' }, `${title} per second`), h('span', { class: 'chart-latest' }, `now ${latest.toFixed(2)}/s`)),
          lineChart(`${title} per second`, 'per second', pts, cls),
        );
      }),
    );
    const ops = [...(m.operations ?? [])].sort((a, b) => b.requests - a.requests);
    tbody.replaceChildren(
      ...(ops.length
        ? ops.map((o) => h('tr', {}, h('th', { scope: 'row' }, OPERATION_LABELS[o.operation] ?? o.operation), h('td', { class: 'num' }, o.requests), h('td', { class: 'num' }, o.errors), h('td', { class: 'num' }, o.throttles)))
        : [h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'No requests yet.'))]),
    );
    updated.textContent = `Updated ${fmtTime(m.now)}; ${hist.length} samples shown, one every 10 seconds.`;
  }

  async function load(): Promise<void> {
    try {
      draw(await metrics());
      errors.replaceChildren();
    } catch (e) {
      const { title, detail } = explain(e);
      errors.replaceChildren(alertBox(`The metrics could not be read. ${title}`, h('p', { class: 'detail' }, detail)));
    }
  }
  refresh.addEventListener('click', () => void load());
  windowSel.addEventListener('change', () => {
    if (last) draw(last);
  });
  // Refresh while this page is shown; stop once it has been left.
  const timer = window.setInterval(() => {
    if (!root.contains(charts)) window.clearInterval(timer);
    else if (!document.hidden) void load();
  }, REFRESH_MS);
  void load();
}
