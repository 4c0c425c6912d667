// Sign-in: the browser signs POST /console/api/session with the credential (SigV4, WebCrypto)
// and then forgets the secret: the field is emptied before the request is even sent, and the
// value is not kept anywhere (no storage, no URL, no log).

import { explain, serverRegion, signIn } from '../api';
import { alertBox, announce, field, h, render } from '../dom';

export function signInPage(done: () => void): void {
  const akid = h('input', { name: 'accessKeyId', autocomplete: 'username', spellcheck: 'false', required: true, autocapitalize: 'off' });
  const secret = h('input', { name: 'secretAccessKey', type: 'password', autocomplete: 'current-password', required: true, spellcheck: 'false' });
  const region = h('input', { name: 'region', value: serverRegion() ?? 'us-east-1', required: true, spellcheck: 'false', autocapitalize: 'off' });
  const errors = h('div', { class: 'errors' });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card signin', novalidate: true, 'aria-labelledby': 'signin-title' },
    field('Access key id', akid),
    field('Secret access key', secret, 'Used in this page to sign one request, then forgotten. It is never sent, stored or kept.'),
    field('Region', region, serverRegion() ? 'The region cofferd serves, as it says itself.' : undefined),
    errors,
    submit,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    const id = akid.value.trim();
    let key = secret.value;
    secret.value = '';
    const reg = region.value.trim() || 'us-east-1';
    if (!id || !key) {
      key = '';
      errors.append(alertBox('Enter an access key id and its secret access key.'));
      (id ? secret : akid).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      await signIn(id, key, reg);
      key = '';
      announce('Signed in.');
      done();
    } catch (e) {
      key = '';
      const { title, detail } = explain(e);
      errors.append(alertBox(`Sign-in failed. ${title}`, h('p', { class: 'detail' }, detail)));
      secret.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });
  render(
    'Sign in',
    h(
      'section',
      { class: 'signin-wrap' },
      h('h1', { id: 'signin-title' }, 'Sign in to coffer'),
      h('p', { class: 'lede' }, 'Use a coffer credential: an access key id and its secret access key. The console can do what that credential may do, nothing more.'),
      form,
    ),
  );
  akid.focus();
}
