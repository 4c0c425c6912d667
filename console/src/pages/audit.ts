// The audit trail: cofferd's audit log, newest first, filtered on the server, a page at a time
// (its cursor). Each record says whether its place in the signed hash chain has been verified,
// in words as well as colour.

import { audit, AuditEvent, explain } from '../api';
import { alertBox, announce, field, fmtTime, h, nextId, render } from '../dom';

const VERIFICATION: Record<string, { icon: string; text: string; cls: string; title: string }> = {
  verified: { icon: '✓', text: 'Verified', cls: 'ok', title: 'In the hash chain, covered by a signed digest that checks.' },
  pending: { icon: '…', text: 'Pending', cls: 'warn', title: 'In the hash chain, not yet covered by a signed digest.' },
  failed: { icon: '✗', text: 'Failed', cls: 'bad', title: 'Does not match the hash chain or its signed digest: the log may have been altered.' },
};

const OUTCOME: Record<string, { icon: string; text: string; cls: string }> = {
  allowed: { icon: '●', text: 'Allowed', cls: 'ok' },
  denied: { icon: '✕', text: 'Denied', cls: 'bad' },
  error: { icon: '▲', text: 'Error', cls: 'warn' },
};

function keyCell(arn: string | null | undefined): Node | string {
  if (!arn) return '—';
  const m = /^arn:[^:]+:kms:[^:]*:\d+:key\/(.+)$/.exec(arn);
  return m ? h('a', { href: `#/keys/${encodeURIComponent(m[1])}`, title: arn }, m[1]) : arn;
}

function toEpoch(v: string): string {
  if (!v) return '';
  const t = new Date(v).getTime();
  return Number.isNaN(t) ? '' : String(Math.floor(t / 1000));
}

export function auditPage(initial: URLSearchParams = new URLSearchParams()): void {
  const keyId = h('input', { name: 'keyId', spellcheck: 'false', value: initial.get('keyId') ?? '' });
  const principal = h('input', { name: 'principal', spellcheck: 'false', value: initial.get('principal') ?? '' });
  const operation = h('input', { name: 'operation', spellcheck: 'false', value: initial.get('operation') ?? '', list: 'audit-ops' });
  const ops = h(
    'datalist',
    { id: 'audit-ops' },
    ['CreateKey', 'PutKeyPolicy', 'RotateKeyOnDemand', 'EnableKeyRotation', 'DisableKey', 'EnableKey', 'ScheduleKeyDeletion', 'CancelKeyDeletion', 'Encrypt', 'Decrypt', 'CreateAlias', 'TagResource', 'CreateGrant', 'RevokeGrant', 'ConsoleLogin'].map((o) => h('option', { value: o })),
  );
  const outcome = h('select', { name: 'outcome' }, h('option', { value: '' }, 'Any outcome'), Object.entries(OUTCOME).map(([v, o]) => h('option', { value: v }, o.text)));
  outcome.value = initial.get('outcome') ?? '';
  const from = h('input', { name: 'from', type: 'datetime-local', step: 1 });
  const to = h('input', { name: 'to', type: 'datetime-local', step: 1 });
  const limit = h('select', { name: 'limit' }, ['25', '50', '100'].map((n) => h('option', { value: n }, n)));
  limit.value = '50';
  const apply = h('button', { type: 'submit' }, 'Show events');
  const clear = h('button', { type: 'button', class: 'secondary' }, 'Clear filters');
  const errors = h('div', { class: 'errors' });
  const summary = h('p', { class: 'summary' });
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load older events');
  let cursor: string | null | undefined;
  let count = 0;
  let query: Record<string, string> = {};

  const table = h(
    'table',
    { class: 'data audit' },
    h('caption', {}, 'Audit events, newest first'),
    h('thead', {}, h('tr', {}, ['Time', 'Operation', 'Principal', 'Key', 'Outcome', 'Verification', 'Record'].map((c) => h('th', { scope: 'col' }, c)))),
    tbody,
  );

  /** Two rows per event: the event, and its record (hidden until asked for, spanning the table). */
  function rows(e: AuditEvent): HTMLTableRowElement[] {
    const o = OUTCOME[e.outcome] ?? { icon: '?', text: e.outcome, cls: 'warn' };
    const v = VERIFICATION[e.verification] ?? { icon: '?', text: e.verification, cls: 'warn', title: '' };
    const recordId = nextId('record');
    const detail = h(
      'tr',
      { class: 'record-row', id: recordId, hidden: true },
      h(
        'td',
        { colspan: 7 },
        h('dl', { class: 'meta small' }, h('dt', {}, 'Event id'), h('dd', { class: 'mono' }, e.eventId), h('dt', {}, 'Request id'), h('dd', { class: 'mono' }, e.requestId ?? '—'), h('dt', {}, 'Source address'), h('dd', { class: 'mono' }, e.sourceIPAddress ?? '—')),
        h('pre', { class: 'record', tabindex: 0, 'aria-label': `The record of ${e.eventName}, as logged` }, JSON.stringify(e.record, null, 2)),
      ),
    );
    const toggle = h('button', { type: 'button', class: 'secondary small', 'aria-expanded': 'false', 'aria-controls': recordId }, 'Show', h('span', { class: 'visually-hidden' }, ` the record of ${e.eventName} at ${fmtTime(e.eventTime)}`));
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', String(open));
      toggle.firstChild!.textContent = open ? 'Hide' : 'Show';
      detail.hidden = !open;
    });
    const main = h(
      'tr',
      { 'data-event-id': e.eventId, 'data-operation': e.eventName, 'data-outcome': e.outcome },
      h('td', { class: 'nowrap' }, fmtTime(e.eventTime)),
      h('th', { scope: 'row' }, e.eventName),
      h('td', { class: 'mono wrap' }, e.principal),
      h('td', { class: 'mono wrap' }, keyCell(e.keyArn)),
      h('td', {}, h('span', { class: `badge ${o.cls}` }, h('span', { 'aria-hidden': 'true' }, o.icon + ' '), o.text), e.errorCode ? h('span', { class: 'sub mono' }, e.errorCode) : null),
      h('td', {}, h('span', { class: `badge ${v.cls}`, title: v.title }, h('span', { 'aria-hidden': 'true' }, v.icon + ' '), v.text), h('span', { class: 'visually-hidden' }, `: ${v.title}`)),
      h('td', {}, toggle),
    );
    return [main, detail];
  }

  async function load(append: boolean): Promise<void> {
    errors.replaceChildren();
    apply.disabled = more.disabled = true;
    if (!append) {
      count = 0;
      cursor = undefined;
      summary.textContent = 'Loading events…';
    }
    try {
      const q: Record<string, string> = { ...query, limit: limit.value };
      if (append && cursor) q.cursor = cursor;
      const res = await audit(q);
      const trs = res.events.flatMap(rows);
      if (append) tbody.append(...trs);
      else tbody.replaceChildren(...trs);
      count += res.events.length;
      cursor = res.nextCursor;
      more.hidden = !cursor;
      if (!count) tbody.replaceChildren(h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No event matches these filters.')));
      summary.textContent =
        `${count} event${count === 1 ? '' : 's'} shown${cursor ? '; older events can be loaded' : ''}.` +
        (res.scanCapped ? ' This answer stopped after reading its share of the log (64 MiB); load older events to go on.' : '');
      announce(summary.textContent);
    } catch (e) {
      const { title, detail } = explain(e);
      summary.textContent = '';
      errors.replaceChildren(alertBox(`The audit trail could not be read. ${title}`, h('p', { class: 'detail' }, detail)));
    } finally {
      apply.disabled = more.disabled = false;
    }
  }

  function readFilters(): void {
    query = {
      keyId: keyId.value.trim(),
      principal: principal.value.trim(),
      operation: operation.value.trim(),
      outcome: outcome.value,
      from: toEpoch(from.value),
      to: toEpoch(to.value),
    };
  }

  const form = h(
    'form',
    { class: 'filters audit-filters', role: 'search', 'aria-label': 'Filter the audit trail' },
    field('Key id or ARN', keyId),
    field('Principal ARN', principal),
    field('Operation', operation),
    ops,
    field('Outcome', outcome),
    field('From (your local time)', from),
    field('To (your local time)', to),
    field('Events per page', limit),
    h('div', { class: 'buttons' }, apply, clear),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    readFilters();
    void load(false);
  });
  clear.addEventListener('click', () => {
    for (const i of [keyId, principal, operation, from, to]) i.value = '';
    outcome.value = '';
    readFilters();
    void load(false);
  });
  more.addEventListener('click', () => void load(true));

  render(
    'Audit trail',
    h('h1', {}, 'Audit trail'),
    h('p', { class: 'lede' }, 'Every request cofferd answered — allowed, denied or failed — with who asked and what happened. Verification says whether the record checks against the log’s signed hash chain.'),
    form,
    errors,
    summary,
    h('div', { class: 'table-wrap' }, table),
    h('p', {}, more),
  );
  readFilters();
  void load(false);
}
