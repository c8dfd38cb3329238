// Building DOM nodes without innerHTML (every value from the API goes in as text, never as
// markup), messages, API errors in plain words, and navigation.

import { ApiError } from './api.js';

/**
 * h('a', {href: '#/x', class: 'c'}, 'text', childNode, [more, children])
 * Attributes: `class`, `for`, `on<event>` (a function), booleans (true sets, false/null skips),
 * anything else as an attribute. Children: strings, numbers, nodes, arrays, null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (value === true) {
      el.setAttribute(name, '');
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces the contents of `el` with `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Says `text` to screen readers through the polite status region. */
export function announce(text) {
  const status = document.getElementById('status');
  status.textContent = '';
  // A new text node in a later task is announced even when the text repeats.
  setTimeout(() => { status.textContent = text; }, 50);
}

/** A message box: kind is 'error', 'ok' or 'info'. Errors are alerts (read out at once). */
export function message(kind, ...children) {
  return h('div', { class: `message ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...children);
}

/** A `<table>` with a caption, header cells and body rows (arrays of cells or `<tr>` nodes). */
export function table(caption, headers, rows, attrs = {}) {
  return h('table', attrs,
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((th) => h('th', { scope: 'col' }, th)))),
    h('tbody', {}, rows.map((row) => (row instanceof Node ? row : h('tr', {}, row.map((c) => h('td', {}, c)))))));
}

/**
 * An API error as plain words. `doing` completes "This key's role may not ..." for a 403.
 * 401 never gets here: the key is dropped and the sign-in page shown (see whenUnauthorized).
 */
export function errorMessage(error, doing) {
  if (!(error instanceof ApiError)) {
    return message('error', h('strong', {}, 'Something went wrong in the page: '), String(error && error.message ? error.message : error));
  }
  if (error.status === 403) {
    return message('error', h('strong', {}, 'Not allowed. '),
      `This key's role may not ${doing || 'do this'}. Sign in with a steward or admin key.`);
  }
  const title = {
    0: 'No connection.',
    404: 'Not found.',
    409: 'Conflict.',
    412: 'Changed meanwhile.',
    422: 'Invalid value.',
    503: 'The service is not ready.',
  }[error.status] || (error.status >= 500 ? 'The server failed.' : 'The request was refused.');
  return message('error', h('strong', {}, title, ' '), error.message,
    error.field ? h('span', { class: 'field' }, ` (field: ${error.field})`) : null,
    error.status ? h('span', { class: 'code' }, ` [${error.status} ${error.code}]`) : null);
}

/** Navigates to `hash` (renders again when it is the current one). */
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}
