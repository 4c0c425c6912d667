// One key: its metadata, state (enable, disable, schedule and cancel deletion), key policy
// editor, rotation (automatic with its period, on demand, history), aliases, tags and grants.
// Each section loads and fails on its own, with its errors in a live region beside it.

import { ApiError, currentSession, explain, kms } from '../api';
import { alertBox, announce, field, fmtTime, h, nextId, render } from '../dom';
import { checkPolicy, isLockout } from '../policy';
import { USAGE_LABELS } from '../specs';
import { stateBadge } from './keys';

function section(title: string, ...content: (Node | null)[]): { el: HTMLElement; body: HTMLElement; errors: HTMLElement } {
  const id = nextId('sec');
  const errors = h('div', { class: 'errors' });
  const body = h('div', { class: 'section-body' });
  const el = h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), errors, ...content, body);
  return { el, body, errors };
}

/** Runs an action from a button: disabled while it runs, errors shown in `errors`, success announced. */
async function act(btn: HTMLButtonElement | null, errors: HTMLElement, what: string, f: () => Promise<unknown>, done: string): Promise<boolean> {
  errors.replaceChildren();
  if (btn) btn.disabled = true;
  try {
    await f();
    announce(done);
    return true;
  } catch (e) {
    const { title, detail } = explain(e);
    errors.replaceChildren(alertBox(`${what} failed. ${title}`, h('p', { class: 'detail' }, detail)));
    return false;
  } finally {
    if (btn) btn.disabled = false;
  }
}

function loadError(errors: HTMLElement, what: string, e: unknown): void {
  const { title, detail } = explain(e);
  errors.replaceChildren(alertBox(`${what} could not be loaded. ${title}`, h('p', { class: 'detail' }, detail)));
}

export function keyPage(keyId: string): void {
  const heading = h('h1', {}, 'Key ', h('span', { class: 'mono' }, keyId));
  const details = section('Details');
  const status = section('Status');
  const policy = section('Key policy');
  const rotation = section('Rotation');
  const aliases = section('Aliases');
  const tags = section('Tags');
  const grants = section('Grants');
  const root = render(
    `Key ${keyId}`,
    h('p', { class: 'crumbs' }, h('a', { href: '#/keys' }, '← All keys'), ' · ', h('a', { href: `#/audit?keyId=${encodeURIComponent(keyId)}` }, 'Audit trail of this key')),
    heading,
    details.el,
    status.el,
    policy.el,
    rotation.el,
    aliases.el,
    tags.el,
    grants.el,
  );

  let meta: any = null;

  async function loadMeta(): Promise<void> {
    try {
      meta = (await kms('DescribeKey', { KeyId: keyId })).KeyMetadata;
    } catch (e) {
      loadError(details.errors, 'The key', e);
      return;
    }
    drawDetails();
    drawStatus();
  }

  function drawDetails(): void {
    const m = meta;
    const rows: [string, Node | string][] = [
      ['Key id', h('span', { class: 'mono' }, m.KeyId)],
      ['ARN', h('span', { class: 'mono' }, m.Arn)],
      ['Description', m.Description || '—'],
      ['State', stateBadge(m.KeyState)],
      ['Key spec', h('span', { class: 'mono' }, m.KeySpec)],
      ['Usage', `${USAGE_LABELS[m.KeyUsage] ?? m.KeyUsage} (${m.KeyUsage})`],
      ['Origin', m.Origin ?? '—'],
      ['Key manager', m.KeyManager ?? '—'],
      ['Created', fmtTime(m.CreationDate)],
      ['Multi-Region', m.MultiRegion ? 'yes' : 'no'],
    ];
    if (m.DeletionDate) rows.push(['Deletion date', fmtTime(m.DeletionDate)]);
    if (m.EncryptionAlgorithms?.length) rows.push(['Encryption algorithms', m.EncryptionAlgorithms.join(', ')]);
    if (m.SigningAlgorithms?.length) rows.push(['Signing algorithms', m.SigningAlgorithms.join(', ')]);
    if (m.MacAlgorithms?.length) rows.push(['MAC algorithms', m.MacAlgorithms.join(', ')]);
    if (m.KeyAgreementAlgorithms?.length) rows.push(['Key agreement algorithms', m.KeyAgreementAlgorithms.join(', ')]);
    details.body.replaceChildren(h('dl', { class: 'meta' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
    heading.replaceChildren('Key ', h('span', { class: 'mono' }, m.KeyId));
  }

  function drawStatus(): void {
    const m = meta;
    const parts: Node[] = [h('p', {}, 'This key is ', stateBadge(m.KeyState), '.')];
    if (m.KeyState === 'Enabled' || m.KeyState === 'Disabled') {
      const enabling = m.KeyState === 'Disabled';
      const btn = h('button', { type: 'button', class: enabling ? '' : 'secondary' }, enabling ? 'Enable key' : 'Disable key');
      btn.addEventListener('click', async () => {
        if (await act(btn, status.errors, enabling ? 'Enabling the key' : 'Disabling the key', () => kms(enabling ? 'EnableKey' : 'DisableKey', { KeyId: keyId }), enabling ? 'Key enabled.' : 'Key disabled.')) await loadMeta().then(loadRotation);
      });
      parts.push(h('p', { class: 'hint' }, enabling ? 'A disabled key cannot be used for cryptographic operations until enabled again.' : 'Disabling stops every cryptographic use of the key; it can be enabled again.'), btn);
      // Schedule deletion.
      const days = h('input', { type: 'number', name: 'pendingWindow', min: 7, max: 30, step: 1, value: 30, required: true, inputmode: 'numeric' });
      const confirm = h('input', { type: 'checkbox', name: 'confirmDeletion', required: true });
      const sched = h('button', { type: 'submit', class: 'danger' }, 'Schedule deletion');
      const form = h(
        'form',
        { class: 'inline-form', 'aria-label': 'Schedule deletion' },
        h('h3', {}, 'Delete this key'),
        field('Waiting period (days, 7–30)', days, 'The key is deleted at the end of the waiting period; until then the deletion can be cancelled.'),
        h('div', { class: 'check' }, confirm, h('label', { for: (confirm.id = nextId('f')) }, 'I understand that once deleted, nothing encrypted under this key can ever be decrypted.')),
        sched,
      );
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const n = Number(days.value);
        if (!Number.isInteger(n) || n < 7 || n > 30) {
          status.errors.replaceChildren(alertBox('The waiting period must be a whole number of days from 7 to 30.'));
          days.focus();
          return;
        }
        if (!confirm.checked) {
          status.errors.replaceChildren(alertBox('Tick the box to confirm that you understand what deletion means.'));
          confirm.focus();
          return;
        }
        if (await act(sched, status.errors, 'Scheduling the deletion', () => kms('ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: n }), `Deletion scheduled in ${n} days.`)) await loadMeta().then(loadRotation);
      });
      parts.push(form);
    } else if (m.KeyState === 'PendingDeletion') {
      parts.push(h('p', {}, `It will be deleted on ${fmtTime(m.DeletionDate)}.`));
      const cancel = h('button', { type: 'button' }, 'Cancel deletion');
      cancel.addEventListener('click', async () => {
        if (await act(cancel, status.errors, 'Cancelling the deletion', () => kms('CancelKeyDeletion', { KeyId: keyId }), 'Deletion cancelled; the key is disabled.')) await loadMeta().then(loadRotation);
      });
      parts.push(h('p', { class: 'hint' }, 'Cancelling leaves the key disabled; enable it to use it again.'), cancel);
    }
    status.body.replaceChildren(...parts);
  }

  // The key policy editor.
  const editor = h('textarea', { name: 'policy', rows: 18, spellcheck: 'false', class: 'mono code', autocapitalize: 'off' });
  const checkBtn = h('button', { type: 'button', class: 'secondary' }, 'Check JSON');
  const saveBtn = h('button', { type: 'submit' }, 'Save policy');
  const resetBtn = h('button', { type: 'button', class: 'secondary' }, 'Discard changes');
  const policyNote = h('div', { class: 'note', 'aria-live': 'polite' });
  let loadedPolicy = '';
  const policyForm = h(
    'form',
    { class: 'policy-form', 'aria-label': 'Key policy editor' },
    field('Policy document (JSON)', editor, 'Checked here before it is sent; cofferd refuses a policy that would stop you from changing it again.'),
    policyNote,
    h('div', { class: 'buttons' }, saveBtn, checkBtn, resetBtn),
  );
  policy.body.replaceChildren(policyForm);

  function showProblems(problems: string[]): void {
    policy.errors.replaceChildren(alertBox('The policy has mistakes; nothing was saved.', h('ul', {}, problems.map((p) => h('li', {}, p)))));
    editor.setAttribute('aria-invalid', 'true');
  }
  checkBtn.addEventListener('click', () => {
    policy.errors.replaceChildren();
    policyNote.replaceChildren();
    const problems = checkPolicy(editor.value);
    if (problems.length) showProblems(problems);
    else {
      editor.removeAttribute('aria-invalid');
      policyNote.replaceChildren(h('p', { class: 'ok-text' }, '✓ The JSON is valid and has the shape of a key policy.'));
    }
  });
  resetBtn.addEventListener('click', () => {
    editor.value = loadedPolicy;
    editor.removeAttribute('aria-invalid');
    policy.errors.replaceChildren();
    policyNote.replaceChildren();
  });
  policyForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    policy.errors.replaceChildren();
    policyNote.replaceChildren();
    const problems = checkPolicy(editor.value);
    if (problems.length) {
      showProblems(problems);
      editor.focus();
      return;
    }
    editor.removeAttribute('aria-invalid');
    saveBtn.disabled = true;
    try {
      await kms('PutKeyPolicy', { KeyId: keyId, PolicyName: 'default', Policy: editor.value });
      loadedPolicy = editor.value;
      policyNote.replaceChildren(h('p', { class: 'ok-text' }, '✓ Policy saved.')); // a live region: read out
    } catch (e) {
      if (e instanceof ApiError && isLockout(e.type, e.message)) {
        const s = currentSession();
        const root = s ? `arn:aws:iam::${s.accountId}:root` : 'the account root';
        policy.errors.replaceChildren(
          alertBox(
            'Not saved: this policy would lock you out of the key.',
            h(
              'p',
              {},
              'coffer makes sure that whoever saves a key policy can still change it afterwards. With this policy, you (',
              h('span', { class: 'mono' }, s?.principal ?? 'your principal'),
              ') would no longer be allowed ',
              h('code', {}, 'kms:PutKeyPolicy'),
              ' on this key, so nobody using your credential could ever correct the policy again.',
            ),
            h('p', {}, 'Keep a statement that allows your principal or the account root (', h('span', { class: 'mono' }, root), ') ', h('code', {}, 'kms:PutKeyPolicy'), ', then save again.'),
            h('p', { class: 'detail' }, `cofferd said: ${e.type}: ${e.message}`),
          ),
        );
      } else {
        const { title, detail } = explain(e);
        policy.errors.replaceChildren(alertBox(`Saving the policy failed. ${title}`, h('p', { class: 'detail' }, detail)));
      }
      editor.focus();
    } finally {
      saveBtn.disabled = false;
    }
  });

  async function loadPolicy(): Promise<void> {
    try {
      const res = await kms('GetKeyPolicy', { KeyId: keyId, PolicyName: 'default' });
      let text = res.Policy ?? '';
      try {
        text = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        /* keep it as stored */
      }
      loadedPolicy = text;
      editor.value = text;
    } catch (e) {
      loadError(policy.errors, 'The key policy', e);
    }
  }

  // Rotation.
  async function loadRotation(): Promise<void> {
    if (!meta) return;
    const rotatable = meta.KeySpec === 'SYMMETRIC_DEFAULT' && meta.Origin === 'AWS_KMS' && !meta.CustomKeyStoreId;
    if (!rotatable) {
      rotation.body.replaceChildren(h('p', {}, 'Rotation is available only for symmetric encryption keys whose material coffer generated.'));
      return;
    }
    if (meta.KeyState === 'PendingDeletion') {
      rotation.body.replaceChildren(h('p', {}, 'A key pending deletion is not rotated. Cancel the deletion to manage its rotation.'));
      return;
    }
    let st: any;
    try {
      st = await kms('GetKeyRotationStatus', { KeyId: keyId });
    } catch (e) {
      loadError(rotation.errors, 'The rotation status', e);
      return;
    }
    const enabled = h('input', { type: 'checkbox', name: 'rotationEnabled', checked: !!st.KeyRotationEnabled });
    const period = h('input', { type: 'number', name: 'rotationPeriod', min: 90, max: 2560, step: 1, value: st.RotationPeriodInDays ?? 365, inputmode: 'numeric' });
    const save = h('button', { type: 'submit' }, 'Save rotation settings');
    const form = h(
      'form',
      { class: 'inline-form', 'aria-label': 'Automatic rotation' },
      h('h3', {}, 'Automatic rotation'),
      h('div', { class: 'check' }, enabled, h('label', { for: (enabled.id = nextId('f')) }, 'Rotate this key automatically')),
      field('Rotation period (days, 90–2560)', period),
      st.NextRotationDate ? h('p', {}, `Next automatic rotation: ${fmtTime(st.NextRotationDate)}.`) : null,
      save,
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const n = Number(period.value);
      if (enabled.checked && (!Number.isInteger(n) || n < 90 || n > 2560)) {
        rotation.errors.replaceChildren(alertBox('The rotation period must be a whole number of days from 90 to 2560.'));
        period.focus();
        return;
      }
      const ok = await act(
        save,
        rotation.errors,
        'Changing automatic rotation',
        () => (enabled.checked ? kms('EnableKeyRotation', { KeyId: keyId, RotationPeriodInDays: n }) : kms('DisableKeyRotation', { KeyId: keyId })),
        enabled.checked ? `Automatic rotation on, every ${n} days.` : 'Automatic rotation off.',
      );
      if (ok) await loadRotation();
    });
    const now = h('button', { type: 'button', class: 'secondary' }, 'Rotate now');
    now.addEventListener('click', async () => {
      if (await act(now, rotation.errors, 'Rotating the key', () => kms('RotateKeyOnDemand', { KeyId: keyId }), 'Key rotated: new key material is in use for encryption.')) await loadRotation();
    });
    let history: any[] = [];
    try {
      history = (await kms('ListKeyRotations', { KeyId: keyId, Limit: 100 })).Rotations ?? [];
    } catch (e) {
      loadError(rotation.errors, 'The rotation history', e);
    }
    const table = h(
      'table',
      { class: 'data rotations' },
      h('caption', {}, 'Rotation history'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Rotated'), h('th', { scope: 'col' }, 'How'))),
      h(
        'tbody',
        {},
        history.length
          ? history.map((r) => h('tr', {}, h('td', {}, fmtTime(r.RotationDate)), h('td', {}, r.RotationType === 'ON_DEMAND' ? 'On demand' : r.RotationType === 'AUTOMATIC' ? 'Automatic' : r.RotationType)))
          : h('tr', {}, h('td', { colspan: 2, class: 'empty' }, 'Never rotated.')),
      ),
    );
    rotation.body.replaceChildren(
      form,
      h('div', { class: 'inline-form' }, h('h3', {}, 'Rotate on demand'), h('p', { class: 'hint' }, 'New key material is used for encryption from now on; older ciphertexts still decrypt.'), now),
      h('div', { class: 'table-wrap' }, table),
    );
  }

  // Aliases.
  async function loadAliases(): Promise<void> {
    let list: any[] = [];
    try {
      list = (await kms('ListAliases', { KeyId: keyId })).Aliases ?? [];
    } catch (e) {
      loadError(aliases.errors, 'The aliases', e);
    }
    const name = h('input', { name: 'aliasName', value: 'alias/', spellcheck: 'false', required: true, autocapitalize: 'off' });
    const add = h('button', { type: 'submit' }, 'Create alias');
    const form = h('form', { class: 'inline-form row', 'aria-label': 'Create an alias' }, field('New alias', name, 'alias/ followed by letters, digits, / _ -'), add);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const v = name.value.trim();
      if (!/^alias\/[a-zA-Z0-9/_-]+$/.test(v) || v.startsWith('alias/aws/')) {
        aliases.errors.replaceChildren(alertBox('An alias is alias/ followed by letters, digits, /, _ or -, and must not start with alias/aws/.'));
        name.focus();
        return;
      }
      if (await act(add, aliases.errors, 'Creating the alias', () => kms('CreateAlias', { AliasName: v, TargetKeyId: keyId }), `Alias ${v} created.`)) await loadAliases();
    });
    aliases.body.replaceChildren(
      list.length
        ? h(
            'ul',
            { class: 'plain items' },
            list.map((a) => {
              const del = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Delete alias ${a.AliasName}` }, 'Delete');
              del.addEventListener('click', async () => {
                if (await act(del, aliases.errors, 'Deleting the alias', () => kms('DeleteAlias', { AliasName: a.AliasName }), `Alias ${a.AliasName} deleted.`)) await loadAliases();
              });
              return h('li', {}, h('span', { class: 'mono' }, a.AliasName), ' ', del);
            }),
          )
        : h('p', { class: 'muted' }, 'No alias.'),
      form,
    );
  }

  // Tags.
  async function loadTags(): Promise<void> {
    let list: any[] = [];
    try {
      list = (await kms('ListResourceTags', { KeyId: keyId })).Tags ?? [];
    } catch (e) {
      loadError(tags.errors, 'The tags', e);
    }
    const k = h('input', { name: 'tagKey', required: true, maxlength: 128, spellcheck: 'false' });
    const v = h('input', { name: 'tagValue', maxlength: 256, spellcheck: 'false' });
    const add = h('button', { type: 'submit' }, 'Add tag');
    const form = h('form', { class: 'inline-form row', 'aria-label': 'Add a tag' }, field('Tag key', k), field('Tag value', v), add);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const key = k.value.trim();
      if (!key) {
        tags.errors.replaceChildren(alertBox('A tag needs a key.'));
        k.focus();
        return;
      }
      if (await act(add, tags.errors, 'Adding the tag', () => kms('TagResource', { KeyId: keyId, Tags: [{ TagKey: key, TagValue: v.value }] }), `Tag ${key} added.`)) await loadTags();
    });
    const table = h(
      'table',
      { class: 'data' },
      h('caption', { class: 'visually-hidden' }, 'Tags'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h(
        'tbody',
        {},
        list.length
          ? list.map((t) => {
              const del = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Remove tag ${t.TagKey}` }, 'Remove');
              del.addEventListener('click', async () => {
                if (await act(del, tags.errors, 'Removing the tag', () => kms('UntagResource', { KeyId: keyId, TagKeys: [t.TagKey] }), `Tag ${t.TagKey} removed.`)) await loadTags();
              });
              return h('tr', {}, h('th', { scope: 'row', class: 'mono' }, t.TagKey), h('td', { class: 'mono' }, t.TagValue), h('td', {}, del));
            })
          : h('tr', {}, h('td', { colspan: 3, class: 'empty' }, 'No tags.')),
      ),
    );
    tags.body.replaceChildren(h('div', { class: 'table-wrap' }, table), form);
  }

  // Grants.
  async function loadGrants(): Promise<void> {
    let list: any[] = [];
    try {
      list = (await kms('ListGrants', { KeyId: keyId, Limit: 100 })).Grants ?? [];
    } catch (e) {
      loadError(grants.errors, 'The grants', e);
      return;
    }
    const table = h(
      'table',
      { class: 'data' },
      h('caption', { class: 'visually-hidden' }, 'Grants'),
      h('thead', {}, h('tr', {}, ['Grant', 'Grantee', 'Operations', 'Retiring principal', 'Created', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        list.length
          ? list.map((g) => {
              const rev = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Revoke grant ${g.Name || g.GrantId}` }, 'Revoke');
              rev.addEventListener('click', async () => {
                if (await act(rev, grants.errors, 'Revoking the grant', () => kms('RevokeGrant', { KeyId: keyId, GrantId: g.GrantId }), 'Grant revoked.')) await loadGrants();
              });
              return h(
                'tr',
                {},
                h('th', { scope: 'row' }, g.Name ? [g.Name, h('span', { class: 'sub mono' }, g.GrantId)] : h('span', { class: 'mono' }, g.GrantId)),
                h('td', { class: 'mono' }, g.GranteePrincipal ?? ''),
                h('td', {}, (g.Operations ?? []).join(', ')),
                h('td', { class: 'mono' }, g.RetiringPrincipal ?? '—'),
                h('td', {}, fmtTime(g.CreationDate)),
                h('td', {}, rev),
              );
            })
          : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No grants.')),
      ),
    );
    grants.body.replaceChildren(h('div', { class: 'table-wrap' }, table));
  }

  // Busy until every section has loaded (assistive technology, and the tests, wait for it).
  root.setAttribute('aria-busy', 'true');
  void (async () => {
    await loadMeta();
    await Promise.all([loadPolicy(), loadRotation(), loadAliases(), loadTags(), loadGrants()]);
    if (heading.isConnected) root.setAttribute('aria-busy', 'false');
  })();
}
