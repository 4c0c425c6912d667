// Create a key: every key spec coffer supports, with only the usages that spec allows.

import { explain, kms } from '../api';
import { alertBox, announce, field, h, render } from '../dom';
import { go } from '../nav';
import { checkPolicy } from '../policy';
import { resetKeysPaging } from './keys';
import { KEY_SPECS, USAGE_LABELS } from '../specs';

export function createPage(): void {
  const spec = h('select', { name: 'keySpec' }, KEY_SPECS.map((s) => h('option', { value: s.spec }, `${s.label} — ${s.spec}`)));
  const usage = h('select', { name: 'keyUsage' });
  const description = h('input', { name: 'description', maxlength: 8192 });
  const tags = h('textarea', { name: 'tags', rows: 3, spellcheck: 'false', class: 'mono' });
  const policy = h('textarea', { name: 'policy', rows: 8, spellcheck: 'false', class: 'mono code' });
  const errors = h('div', { class: 'errors' });
  const submit = h('button', { type: 'submit' }, 'Create key');

  function fillUsages(): void {
    const s = KEY_SPECS.find((x) => x.spec === spec.value)!;
    usage.replaceChildren(...s.usages.map((u) => h('option', { value: u }, `${USAGE_LABELS[u]} — ${u}`)));
  }
  spec.addEventListener('change', fillUsages);
  fillUsages();

  const form = h(
    'form',
    { class: 'card create', 'aria-labelledby': 'create-title' },
    field('Key spec', spec, 'The kind of key. SM2 is not offered: AWS has it only in its China regions, and coffer does not implement it.'),
    field('Key usage', usage, 'Only the usages this key spec allows are listed.'),
    field('Description (optional)', description),
    field('Tags (optional)', tags, 'One tag a line, as key=value.'),
    field('Key policy (optional)', policy, 'Leave empty for the default key policy, which gives the account root every permission on the key.'),
    errors,
    submit,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    const parsedTags: { TagKey: string; TagValue: string }[] = [];
    const bad: string[] = [];
    tags.value
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .forEach((line, i) => {
        const eq = line.indexOf('=');
        if (eq <= 0) bad.push(`Tag line ${i + 1} is not key=value.`);
        else parsedTags.push({ TagKey: line.slice(0, eq).trim(), TagValue: line.slice(eq + 1).trim() });
      });
    if (policy.value.trim()) bad.push(...checkPolicy(policy.value).map((p) => `Key policy: ${p}`));
    if (bad.length) {
      errors.replaceChildren(alertBox('Please correct these first; nothing was created.', h('ul', {}, bad.map((b) => h('li', {}, b)))));
      return;
    }
    const req: Record<string, unknown> = { KeySpec: spec.value, KeyUsage: usage.value };
    if (description.value.trim()) req.Description = description.value.trim();
    if (parsedTags.length) req.Tags = parsedTags;
    if (policy.value.trim()) req.Policy = policy.value;
    submit.disabled = true;
    submit.textContent = 'Creating…';
    try {
      const res = await kms('CreateKey', req);
      announce(`Key ${res.KeyMetadata.KeyId} created.`);
      resetKeysPaging();
      go(`#/keys/${encodeURIComponent(res.KeyMetadata.KeyId)}`);
    } catch (e) {
      const { title, detail } = explain(e);
      errors.replaceChildren(alertBox(`The key was not created. ${title}`, h('p', { class: 'detail' }, detail)));
    } finally {
      submit.disabled = false;
      submit.textContent = 'Create key';
    }
  });
  render('Create key', h('h1', { id: 'create-title' }, 'Create a key'), form);
}
