// A few lines of DOM building instead of a framework. Text is always set as text (never as
// HTML), and nothing sets a style attribute: the CSP allows only the bundled stylesheet.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (el instanceof HTMLFormElement) {
    // The console checks its forms itself (messages in words, in a live region), and a form
    // never submits natively: the CSP's form-action 'none' would refuse it anyway.
    el.noValidate = true;
    el.addEventListener('submit', (ev) => ev.preventDefault());
  }
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s(tag: string, attrs: Attrs = {}, ...children: (Child | Child[])[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag) as SVGElement;
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'style') throw new Error('no inline styles under the CSP: use a class');
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'value' && 'value' in el) {
      (el as HTMLInputElement).value = String(v);
    } else if (k === 'checked' && el instanceof HTMLInputElement) {
      el.checked = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

function append(el: Element, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

let uid = 0;
/** A unique id for label/input and aria-describedby pairs. */
export function nextId(prefix: string): string {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: the label, the control, and an optional hint tied by aria-describedby. */
export function field(
  label: string,
  control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  hint?: string,
): HTMLDivElement {
  if (!control.id) control.id = nextId('f');
  const parts: Node[] = [h('label', { for: control.id }, label)];
  if (hint) {
    const hintId = `${control.id}-hint`;
    control.setAttribute('aria-describedby', hintId);
    parts.push(h('p', { class: 'hint', id: hintId }, hint));
  }
  parts.push(control);
  return h('div', { class: 'field' }, parts);
}

/** Replaces the content of the page's main region and sets the document title. */
export function render(title: string, ...content: Child[]): HTMLElement {
  const main = document.getElementById('main')!;
  main.removeAttribute('aria-busy');
  main.replaceChildren(...content.filter((c): c is Node | string => c !== null && c !== undefined && c !== false).map((c) => (c instanceof Node ? c : String(c))));
  document.title = `${title} · coffer console`;
  return main;
}

/** Announces a success or progress message to screen readers (and shows it in the page's toast). */
export function announce(message: string): void {
  const status = document.getElementById('status');
  if (status) status.textContent = message;
}

/** An alert box (role=alert, so it is read out at once) placed at the given spot. */
export function alertBox(title: string, ...detail: Child[]): HTMLDivElement {
  return h('div', { class: 'alert', role: 'alert' }, h('p', { class: 'alert-title' }, title), ...detail);
}

export function fmtTime(v: number | string | undefined | null): string {
  if (v === undefined || v === null || v === '') return '—';
  const n = typeof v === 'number' ? v : Number(v);
  const d = Number.isFinite(n) ? new Date(n > 1e12 ? n : n * 1000) : new Date(String(v));
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
}
