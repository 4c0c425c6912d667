// The console's shell: the banner, hash routing (#/keys, #/keys/<id>, #/create, #/audit,
// #/dashboard) and the session gate. Every page renders a skeleton at once and fills it as
// answers arrive; a page left before its answers come is simply detached.

import './style.css';
import { currentSession, leavePage, resume, setSignedOutHandler, signOut } from './api';
import { h, render, announce } from './dom';
import { go } from './nav';
import { signInPage } from './pages/signin';
import { keysPage, resetKeysPaging } from './pages/keys';
import { keyPage } from './pages/key';
import { createPage } from './pages/create';
import { auditPage } from './pages/audit';
import { dashboardPage } from './pages/dashboard';

const NAV: [string, string][] = [
  ['#/dashboard', 'Dashboard'],
  ['#/keys', 'Keys'],
  ['#/create', 'Create key'],
  ['#/audit', 'Audit trail'],
];

function banner(route: string): void {
  const el = document.getElementById('banner')!;
  const session = currentSession();
  const brand = h('p', { class: 'brand' }, h('span', { 'aria-hidden': 'true', class: 'brand-mark' }, '◆'), ' coffer console');
  if (!session) {
    el.replaceChildren(brand);
    return;
  }
  const links = NAV.map(([href, label]) => {
    const current = route.split('?')[0] === href || (href === '#/keys' && route.startsWith('#/keys/'));
    const a = h('a', { href, 'aria-current': current ? 'page' : null }, label);
    if (href === '#/keys') a.addEventListener('click', resetKeysPaging);
    return h('li', {}, a);
  });
  const out = h('button', { type: 'button', class: 'secondary', onclick: onSignOut }, 'Sign out');
  el.replaceChildren(
    brand,
    h('nav', { 'aria-label': 'Console' }, h('ul', { class: 'nav' }, links)),
    h('p', { class: 'who' }, h('span', { class: 'visually-hidden' }, 'Signed in as '), h('span', { class: 'principal', title: session.principal }, session.principal), ' ', out),
  );
}

async function onSignOut(): Promise<void> {
  await signOut();
  announce('Signed out.');
  location.hash = '#/signin';
  route();
}

function route(): void {
  let hash = location.hash || '#/keys';
  if (!hash.startsWith('#/')) return; // e.g. the skip link's #main
  leavePage();
  if (!currentSession()) {
    banner(hash);
    const next = hash === '#/signin' ? '#/keys' : hash;
    signInPage(() => go(next));
    return;
  }
  if (hash === '#/signin') hash = '#/keys';
  banner(hash);
  const [path, search] = hash.split('?');
  const [, page, arg] = path.split('/');
  switch (page) {
    case 'dashboard':
      dashboardPage();
      break;
    case 'keys':
      if (arg) keyPage(decodeURIComponent(arg));
      else keysPage();
      break;
    case 'create':
      createPage();
      break;
    case 'audit':
      auditPage(new URLSearchParams(search ?? ''));
      break;
    default:
      render('Not found', h('h1', {}, 'Not found'), h('p', {}, 'There is no such page. ', h('a', { href: '#/keys' }, 'Go to the keys.')));
  }
  const heading = document.querySelector<HTMLElement>('#main h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

document.querySelector('.skip-link')?.addEventListener('click', (ev) => {
  ev.preventDefault();
  document.getElementById('main')?.focus();
});

setSignedOutHandler(() => {
  announce('Your session has ended. Sign in again.');
  route();
});
window.addEventListener('hashchange', route);

render('Loading', h('p', { class: 'loading' }, 'Loading…'));
resume()
  .catch(() => null)
  .finally(route);
