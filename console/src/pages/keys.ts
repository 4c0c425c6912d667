// The keys, one page of 50 at a time (ListKeys with its Marker), so that 100,000 keys cost the
// same as 50: DescribeKey, ListAliases and ListResourceTags are asked for the shown rows only.
// Filtering and sorting work on the loaded page.

import { explain, kms } from '../api';
import { alertBox, announce, field, fmtTime, h, render } from '../dom';
import { mapPool } from '../pool';
import { STATE_LABELS } from '../specs';

const PAGE = 50;

interface Row {
  keyId: string;
  meta?: any;
  aliases?: string[];
  tags?: { TagKey: string; TagValue: string }[];
  error?: string;
}

type SortKey = 'name' | 'state' | 'spec' | 'usage' | 'created';

// The markers of the pages before this one, so that "Previous" needs no reload from the start.
let markers: (string | undefined)[] = [undefined];

export function keysPage(): void {
  let rows: Row[] = [];
  let sort: { key: SortKey; dir: 1 | -1 } = { key: 'created', dir: -1 };
  let nextMarker: string | undefined;
  // Each load is a generation; answers of an older one (the page before "Next") are dropped.
  let generation = 0;
  let shownPage = markers.length;

  const filter = h('input', { type: 'search', name: 'filter', spellcheck: 'false' });
  const stateFilter = h(
    'select',
    { name: 'state' },
    h('option', { value: '' }, 'Any state'),
    Object.entries(STATE_LABELS).map(([v, l]) => h('option', { value: v }, l)),
  );
  const tbody = h('tbody');
  const headRow = h('tr');
  const caption = h('caption', {}, 'Keys');
  const table = h('table', { class: 'data keys' }, caption, h('thead', {}, headRow), tbody);
  const errors = h('div', { class: 'errors' });
  const summary = h('p', { class: 'summary' }, 'Loading keys…');
  const prev = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Previous page');
  const next = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Next page');
  const pageNo = h('span', { class: 'page-no' });

  const cols: [SortKey | null, string][] = [
    ['name', 'Key'],
    ['state', 'State'],
    ['spec', 'Key spec'],
    ['usage', 'Usage'],
    [null, 'Aliases'],
    [null, 'Tags'],
    ['created', 'Created'],
  ];

  function drawHead(): void {
    headRow.replaceChildren(
      ...cols.map(([k, label]) => {
        if (!k) return h('th', { scope: 'col' }, label);
        const active = sort.key === k;
        const btn = h(
          'button',
          { type: 'button', class: 'sort', onclick: () => setSort(k) },
          label,
          h('span', { 'aria-hidden': 'true' }, active ? (sort.dir === 1 ? ' ▲' : ' ▼') : ' ↕'),
        );
        return h('th', { scope: 'col', 'aria-sort': active ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none' }, btn);
      }),
    );
  }

  function setSort(k: SortKey): void {
    sort = sort.key === k ? { key: k, dir: sort.dir === 1 ? -1 : 1 } : { key: k, dir: 1 };
    drawHead();
    drawBody();
    headRow.querySelector<HTMLButtonElement>(`th[aria-sort="${sort.dir === 1 ? 'ascending' : 'descending'}"] button`)?.focus();
  }

  function value(r: Row, k: SortKey): string | number {
    switch (k) {
      case 'name':
        return (r.aliases?.[0] ?? r.keyId).toLowerCase();
      case 'state':
        return r.meta?.KeyState ?? '';
      case 'spec':
        return r.meta?.KeySpec ?? '';
      case 'usage':
        return r.meta?.KeyUsage ?? '';
      case 'created':
        return Number(r.meta?.CreationDate ?? 0);
    }
  }

  function matches(r: Row): boolean {
    const st = stateFilter.value;
    if (st && r.meta?.KeyState !== st) return false;
    const q = filter.value.trim().toLowerCase();
    if (!q) return true;
    const hay = [r.keyId, r.meta?.Description, r.meta?.KeySpec, r.meta?.KeyUsage, r.meta?.KeyState, ...(r.aliases ?? []), ...(r.tags ?? []).map((t) => `${t.TagKey}=${t.TagValue}`)]
      .filter(Boolean)
      .join(' ')
      .toLowerCase();
    return hay.includes(q);
  }

  function drawBody(): void {
    const shown = rows.filter(matches).sort((a, b) => {
      const x = value(a, sort.key);
      const y = value(b, sort.key);
      return (x < y ? -1 : x > y ? 1 : 0) * sort.dir;
    });
    tbody.replaceChildren(
      ...shown.map((r) => {
        const m = r.meta;
        const name = r.aliases?.[0];
        return h(
          'tr',
          { 'data-key-id': r.keyId },
          h(
            'th',
            { scope: 'row' },
            h('a', { href: `#/keys/${encodeURIComponent(r.keyId)}` }, name ?? r.keyId),
            name ? h('span', { class: 'sub mono' }, r.keyId) : null,
            m?.Description ? h('span', { class: 'sub' }, m.Description) : null,
          ),
          h('td', {}, r.error ? h('span', { class: 'muted' }, r.error) : m ? stateBadge(m.KeyState) : h('span', { class: 'muted' }, 'Loading…')),
          h('td', { class: 'mono' }, m?.KeySpec ?? ''),
          h('td', { class: 'mono' }, m?.KeyUsage ?? ''),
          h('td', {}, r.aliases ? (r.aliases.length ? h('ul', { class: 'plain' }, r.aliases.map((a) => h('li', { class: 'mono' }, a))) : h('span', { class: 'muted' }, 'none')) : ''),
          h('td', {}, r.tags ? (r.tags.length ? h('ul', { class: 'plain' }, r.tags.map((t) => h('li', {}, h('span', { class: 'tag' }, `${t.TagKey}=${t.TagValue}`)))) : h('span', { class: 'muted' }, 'none')) : ''),
          h('td', {}, m ? fmtTime(m.CreationDate) : ''),
        );
      }),
    );
    if (!rows.length) {
      tbody.replaceChildren(h('tr', {}, h('td', { colspan: cols.length, class: 'empty' }, 'No keys yet. ', h('a', { href: '#/create' }, 'Create one.'))));
    } else if (!shown.length) {
      tbody.replaceChildren(h('tr', {}, h('td', { colspan: cols.length, class: 'empty' }, 'No key on this page matches the filter.')));
    }
    const pageIndex = shownPage;
    summary.textContent = rows.length
      ? `Page ${pageIndex}: ${shown.length} of ${rows.length} keys shown${nextMarker ? '; more on the next page' : ''}.`
      : '';
    pageNo.textContent = `Page ${pageIndex}`;
  }

  async function load(marker: string | undefined): Promise<void> {
    const mine = ++generation;
    const current = (): boolean => mine === generation && table.isConnected;
    errors.replaceChildren();
    summary.textContent = 'Loading keys…';
    prev.disabled = next.disabled = true;
    table.setAttribute('aria-busy', 'true');
    try {
      const res = await kms('ListKeys', marker ? { Limit: PAGE, Marker: marker } : { Limit: PAGE });
      if (!current()) return;
      shownPage = markers.length;
      nextMarker = res.Truncated ? res.NextMarker : undefined;
      rows = (res.Keys ?? []).map((k: any) => ({ keyId: k.KeyId }));
      drawBody();
      prev.disabled = markers.length <= 1;
      next.disabled = !nextMarker;
      await mapPool(rows, 6, async (r) => {
        if (!current()) return;
        try {
          const [d, a, t] = await Promise.all([
            kms('DescribeKey', { KeyId: r.keyId }),
            kms('ListAliases', { KeyId: r.keyId }),
            kms('ListResourceTags', { KeyId: r.keyId }).catch(() => ({ Tags: [] })),
          ]);
          r.meta = d.KeyMetadata;
          r.aliases = (a.Aliases ?? []).map((x: any) => x.AliasName);
          r.tags = t.Tags ?? [];
        } catch (e) {
          r.error = explain(e).title;
        }
        if (current()) drawBody();
      });
      if (!current()) return;
      table.setAttribute('aria-busy', 'false');
      announce(`Loaded ${rows.length} keys.`);
    } catch (e) {
      if (!current()) return;
      const { title, detail } = explain(e);
      summary.textContent = '';
      errors.replaceChildren(alertBox(`The keys could not be listed. ${title}`, h('p', { class: 'detail' }, detail)));
    }
  }

  prev.addEventListener('click', () => {
    markers.pop();
    void load(markers[markers.length - 1]);
  });
  next.addEventListener('click', () => {
    if (!nextMarker) return;
    markers.push(nextMarker);
    void load(nextMarker);
  });
  filter.addEventListener('input', drawBody);
  stateFilter.addEventListener('change', drawBody);

  drawHead();
  const filters = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter the keys on this page', onsubmit: (e: Event) => e.preventDefault() },
    field('Filter this page', filter, 'Matches key id, alias, description, spec, usage, state and tags.'),
    field('State', stateFilter),
  );
  render(
    'Keys',
    h('div', { class: 'page-head' }, h('h1', {}, 'Keys'), h('a', { class: 'button', href: '#/create' }, 'Create key')),
    filters,
    errors,
    summary,
    h('div', { class: 'table-wrap' }, table),
    h('nav', { class: 'pager', 'aria-label': 'Pages of keys' }, prev, pageNo, next),
  );
  // Coming back from a key shows the page it was on; the Keys link in the banner starts again.
  void load(markers[markers.length - 1]);
}

export function resetKeysPaging(): void {
  markers = [undefined];
}

export function stateBadge(state: string): HTMLSpanElement {
  const cls = state === 'Enabled' ? 'ok' : state === 'PendingDeletion' ? 'bad' : 'warn';
  const icon = state === 'Enabled' ? '●' : state === 'PendingDeletion' ? '✕' : '◐';
  return h('span', { class: `badge ${cls}` }, h('span', { 'aria-hidden': 'true' }, icon + ' '), STATE_LABELS[state] ?? state);
}
