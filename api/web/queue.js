// The review queue: tasks by score with filters (status, score band, date opened) and pages.
// Filters live in the hash (#/queue?status=open&band=high&page=2): they hold no patient data.

import * as api from './api.js';
import { h, replace, message, table, errorMessage, go } from './dom.js';
import {
  BANDS, COMPARISON_LABELS, STATUS_LABELS, levelText, nameText, scoreBadge, statusBadge, when, shortId, percent, signed,
} from './format.js';

const PER_PAGE = 20;

/** The filters of the current hash, with defaults. */
export function queueFilters(params) {
  return {
    status: params.get('status') || 'open',
    band: BANDS[params.get('band')] ? params.get('band') : '',
    from: /^\d{4}-\d{2}-\d{2}$/.test(params.get('from') || '') ? params.get('from') : '',
    to: /^\d{4}-\d{2}-\d{2}$/.test(params.get('to') || '') ? params.get('to') : '',
    page: Math.max(1, parseInt(params.get('page') || '1', 10) || 1),
  };
}

/** The API query for filters: dates are whole local days, `to` included. */
export function apiQuery(filters, page = filters.page, perPage = PER_PAGE) {
  const band = BANDS[filters.band];
  const dayStart = (d) => new Date(`${d}T00:00:00`);
  let to = '';
  if (filters.to) {
    const end = dayStart(filters.to);
    end.setDate(end.getDate() + 1);
    to = end.toISOString();
  }
  return api.query({
    status: filters.status === 'any' ? '' : filters.status,
    min_score: band ? band.min : '',
    max_score: band ? band.max : '',
    from: filters.from ? dayStart(filters.from).toISOString() : '',
    to,
    page,
    per_page: perPage,
  });
}

function hashOf(filters) {
  const q = api.query({
    status: filters.status === 'open' ? '' : filters.status,
    band: filters.band,
    from: filters.from,
    to: filters.to,
    page: filters.page > 1 ? filters.page : '',
  });
  return `#/queue${q}`;
}

/** One side of a task: the record's first name and birth date as stored (the API's `a`/`b`). */
function side(record) {
  if (!record) return { name: '', born: '' };
  return { name: record.name ? nameText(record.name) : '', born: record.birth_date || '' };
}

function recordsCell(task) {
  const [a, b] = [side(task.a), side(task.b)];
  if (!a.name && !b.name) {
    return h('span', {}, `Records ${shortId(task.patient_a)} and ${shortId(task.patient_b)}`);
  }
  // Long names are cut with an ellipsis; the whole name is in the title (shown on hover).
  const line = (s) => h('span', { class: 'pair-line', title: s.name || '' }, s.name || '(no name)', s.born ? h('span', { class: 'muted' }, ` · born ${s.born}`) : null);
  return h('span', { class: 'pair' }, line(a), line(b));
}

/** Why the pair is in the queue: the comparisons that weighed most for and against. */
function whyCell(task) {
  const item = (c, kind) => h('li', { class: `why-${kind}`, title: `${COMPARISON_LABELS[c.comparison] || c.comparison}: ${levelText(c.level)}, ${signed(c.weight)} bits` },
    h('span', { class: `tag ${kind}` }, kind === 'agree' ? '✓' : '✗'), ' ',
    COMPARISON_LABELS[c.comparison] || c.comparison,
    h('span', { class: 'muted small' }, ` ${signed(c.weight, 1)}`));
  const agreeing = (task.strongest_agreeing || []).map((c) => item(c, 'agree'));
  const disagreeing = (task.strongest_disagreeing || []).map((c) => item(c, 'conflict'));
  if (!agreeing.length && !disagreeing.length) return h('span', { class: 'muted' }, '—');
  return h('ul', { class: 'why' }, agreeing, disagreeing);
}

export async function queueView(ctx) {
  const filters = queueFilters(ctx.params);
  const depth = h('p', { class: 'depth', id: 'queue-depth', 'aria-live': 'polite' }, 'Counting open tasks…');
  const results = h('div', { id: 'queue-results' }, message('info', 'Loading the queue…'));

  const status = h('select', { id: 'f-status', name: 'status' },
    h('option', { value: 'open' }, 'Open'),
    Object.entries(STATUS_LABELS).filter(([v]) => v !== 'open').map(([v, label]) => h('option', { value: v }, label)),
    h('option', { value: 'any' }, 'Any status'));
  status.value = filters.status;
  const band = h('select', { id: 'f-band', name: 'band' },
    h('option', { value: '' }, 'Any score'),
    Object.entries(BANDS).map(([v, b]) => h('option', { value: v }, b.label)));
  band.value = filters.band;
  const from = h('input', { id: 'f-from', name: 'from', type: 'date', value: filters.from });
  const to = h('input', { id: 'f-to', name: 'to', type: 'date', value: filters.to });
  const form = h('form', { class: 'filters', 'aria-label': 'Filter the queue' },
    h('div', { class: 'field' }, h('label', { for: 'f-status' }, 'Status'), status),
    h('div', { class: 'field' }, h('label', { for: 'f-band' }, 'Score band'), band),
    h('div', { class: 'field' }, h('label', { for: 'f-from' }, 'Opened from'), from),
    h('div', { class: 'field' }, h('label', { for: 'f-to' }, 'Opened until'), to),
    h('div', { class: 'field buttons' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply'),
      h('button', { type: 'button', onclick: () => go('#/queue') }, 'Reset')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    go(hashOf({ status: status.value, band: band.value, from: from.value, to: to.value, page: 1 }));
  });

  ctx.container.append(
    h('div', { class: 'title-row' }, h('h1', {}, 'Review queue'), depth),
    form,
    results);
  ctx.focusHeading();

  let answer;
  try {
    answer = await api.get(`/api/v1/review-tasks${apiQuery(filters)}`);
  } catch (error) {
    replace(depth, '');
    replace(results, errorMessage(error, 'read the review queue'));
    return;
  }
  if (!ctx.alive()) return;
  replace(depth, h('strong', {}, String(answer.queue_depth)), answer.queue_depth === 1 ? ' open task' : ' open tasks', ' in the queue');
  depth.dataset.depth = String(answer.queue_depth);

  if (answer.items.length === 0) {
    replace(results, message('info', answer.total > 0
      ? 'No tasks on this page. '
      : 'No tasks match these filters. ', answer.total > 0 ? h('a', { href: hashOf({ ...filters, page: 1 }) }, 'First page') : null));
    return;
  }
  const rows = answer.items.map((task) => h('tr', { 'data-task-id': task.id },
    h('td', { class: 'num' }, scoreBadge(task.probability), h('div', { class: 'muted small' }, `${signed(task.match_weight, 1)} bits`)),
    h('td', { class: 'records' }, h('a', { href: `#/task/${task.id}`, class: 'task-link', 'aria-label': `Review task, ${percent(task.probability)}` }, recordsCell(task))),
    h('td', { class: 'why-cell' }, whyCell(task)),
    h('td', {}, when(task.created_at)),
    h('td', {}, statusBadge(task.status), task.decided_by ? h('div', { class: 'muted small' }, `by ${task.decided_by}`) : null)));
  const pages = Math.max(1, Math.ceil(answer.total / answer.per_page));
  const pageLink = (page, text, rel) => (page < 1 || page > pages
    ? h('span', { class: 'disabled', 'aria-disabled': 'true' }, text)
    : h('a', { href: hashOf({ ...filters, page }), rel }, text));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Queue pages' },
    pageLink(filters.page - 1, '← Previous', 'prev'),
    h('span', { id: 'queue-page' }, `Page ${answer.page} of ${pages} · ${answer.total} ${answer.total === 1 ? 'task' : 'tasks'}`),
    pageLink(filters.page + 1, 'Next →', 'next'));
  replace(results,
    table('Tasks, highest score first', ['Score', 'Records', 'Why (strongest for and against)', 'Opened', 'Status'], rows, { class: 'queue', id: 'queue-table' }),
    pager);

  // j / k move between the tasks of the list.
  ctx.setKeys((event) => {
    if (event.key !== 'j' && event.key !== 'k') return false;
    const links = [...results.querySelectorAll('a.task-link')];
    if (!links.length) return false;
    const at = links.indexOf(document.activeElement);
    const next = event.key === 'j' ? Math.min(links.length - 1, at + 1) : Math.max(0, at < 0 ? 0 : at - 1);
    links[next].focus();
    return true;
  });
}
