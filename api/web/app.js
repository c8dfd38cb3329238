// The stewards' page: sign-in, hash routing (#/queue, #/task/ID, #/patients, #/patient/ID,
// #/merges), keyboard shortcuts, and one way of showing API errors.

import * as api from './api.js';
import { h, replace, message, announce, errorMessage, go } from './dom.js';
import { queueView } from './queue.js';
import { taskView } from './task.js';
import { patientsView, patientView } from './patients.js';
import { mergesView } from './merges.js';

const main = document.getElementById('main');
let current = { keys: null };
let notice = null; // a message to show on the next page (e.g. "signed out")
let afterSignIn = '#/queue';

/** Parses `#/name/arg?x=1` into {name, arg, params}. */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, search] = raw.split('?');
  const [name, arg] = (path || '').split('/');
  return { name: name || '', arg: arg ? decodeURIComponent(arg) : null, params: new URLSearchParams(search || '') };
}


function setChrome(signedIn, active) {
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('sign-out').hidden = !signedIn;
  document.getElementById('shortcuts-button').hidden = !signedIn;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/** Renders the view the hash names into a fresh container, then moves focus to its heading. */
async function render() {
  const route = parseHash();
  const container = h('div', { class: 'view' });
  replace(main, container);
  current = { keys: null };
  if (!api.key() || route.name === 'signin') {
    if (route.name && route.name !== 'signin') afterSignIn = location.hash;
    setChrome(false, null);
    signInView(container);
    return;
  }
  const views = {
    '': [queueView, 'queue'],
    queue: [queueView, 'queue'],
    task: [taskView, 'queue'],
    patients: [patientsView, 'patients'],
    patient: [patientView, 'patients'],
    merges: [mergesView, 'merges'],
  };
  const [view, nav] = views[route.name] || [notFoundView, null];
  setChrome(true, nav);
  if (notice) {
    container.append(notice);
    notice = null;
  }
  const ctx = {
    container,
    arg: route.arg,
    params: route.params,
    alive: () => container.isConnected,
    setKeys: (fn) => { if (container.isConnected) current.keys = fn; },
    focusHeading: () => {
      const heading = container.querySelector('h1');
      if (heading && container.isConnected) {
        heading.setAttribute('tabindex', '-1');
        heading.focus({ preventScroll: false });
        document.title = `${heading.textContent} · MPI stewards`;
      }
    },
  };
  try {
    await view(ctx);
  } catch (error) {
    if (ctx.alive()) container.append(errorMessage(error, 'open this page'));
  }
}

function notFoundView(ctx) {
  ctx.container.append(h('h1', {}, 'No such page'), h('p', {}, h('a', { href: '#/queue' }, 'Go to the review queue')));
  ctx.focusHeading();
}

function signInView(container) {
  const input = h('input', {
    id: 'key', name: 'key', type: 'password', autocomplete: 'off', spellcheck: 'false',
    required: true, 'aria-describedby': 'key-help',
  });
  const feedback = h('div', { id: 'sign-in-feedback' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'card sign-in', novalidate: true },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Data stewards review possible duplicates, merge, link and undo here.'),
    h('label', { for: 'key' }, 'API key'),
    input,
    h('p', { id: 'key-help', class: 'help' },
      'A steward or admin key from ', h('code', {}, 'mpi keys create --role steward'),
      '. It is kept in this browser tab only and forgotten when the tab closes.'),
    button,
    feedback);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const secret = input.value.trim();
    if (!secret) {
      replace(feedback, message('error', 'Enter your API key.'));
      input.focus();
      return;
    }
    button.disabled = true;
    replace(feedback, message('info', 'Checking the key…'));
    try {
      // Any steward page needs the queue: a key that may read it may use the page.
      await api.call('GET', '/api/v1/review-tasks?per_page=1', undefined, { keyOverride: secret });
      api.setKey(secret);
      announce('Signed in');
      const target = afterSignIn && !afterSignIn.startsWith('#/signin') ? afterSignIn : '#/queue';
      afterSignIn = '#/queue';
      go(target);
    } catch (error) {
      button.disabled = false;
      if (error instanceof api.ApiError && error.status === 401) {
        replace(feedback, message('error', h('strong', {}, 'Key not accepted. '), 'It is unknown or revoked; check it and try again.'));
      } else {
        replace(feedback, errorMessage(error, 'review tasks'));
      }
      input.focus();
      input.select();
    }
  });
  if (notice) {
    container.append(notice);
    notice = null;
  }
  container.append(form);
  document.title = 'Sign in · MPI stewards';
  input.focus();
}

api.whenUnauthorized(() => {
  api.forgetKey();
  notice = message('error', h('strong', {}, 'Signed out. '), 'The key was not accepted any more (revoked?). Sign in again.');
  if (!location.hash.startsWith('#/signin')) afterSignIn = location.hash;
  go('#/signin');
});

document.getElementById('sign-out').addEventListener('click', () => {
  api.forgetKey();
  notice = message('info', 'Signed out. The key is forgotten.');
  afterSignIn = '#/queue';
  go('#/signin');
});

const dialog = document.getElementById('shortcuts');
document.getElementById('shortcuts-button').addEventListener('click', () => dialog.showModal());

/** Whether keys typed into `target` are text (then they are no shortcuts). */
function typing(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT') return true;
  return target.tagName === 'INPUT' && !['radio', 'checkbox', 'button', 'submit', 'reset'].includes(target.type);
}

document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  if (typing(event.target) || dialog.open || !api.key()) return;
  if (current.keys && current.keys(event)) {
    event.preventDefault();
    return;
  }
  if (event.key === '?') {
    dialog.showModal();
  } else if (event.key === 'q') {
    go('#/queue');
  } else if (event.key === '/') {
    go('#/patients');
  } else {
    return;
  }
  event.preventDefault();
});

window.addEventListener('hashchange', render);
render();
