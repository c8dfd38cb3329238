// Recent merges, newest first, each with an Undo button while it is in force.

import * as api from './api.js';
import { h, replace, message, table, announce, errorMessage } from './dom.js';
import { displayName, shortId, when } from './format.js';

const PER_PAGE = 20;

export async function mergesView(ctx) {
  const showUndone = ctx.params.get('all') === '1';
  const feedback = h('div', { id: 'merges-feedback' });
  const results = h('div', {}, message('info', 'Loading merges…'));
  ctx.container.append(
    h('div', { class: 'title-row' }, h('h1', {}, 'Recent merges'),
      h('a', { href: showUndone ? '#/merges' : '#/merges?all=1' }, showUndone ? 'Only merges in force' : 'Include undone merges')),
    h('p', { class: 'muted' }, 'Undo restores both records exactly as they were before the merge and reopens the review task. It is refused when a record changed since.'),
    feedback,
    results);
  ctx.focusHeading();

  async function load() {
    const answer = await api.get(`/api/v1/merges${api.query({ undone: showUndone ? '' : false, per_page: PER_PAGE })}`);
    const ids = answer.items.flatMap((m) => [m.target, m.source]);
    const names = {};
    await Promise.all([...new Set(ids)].map(async (id) => {
      try {
        names[id] = displayName(await api.get(`/api/v1/patients/${id}`));
      } catch {
        // leave the short id
      }
    }));
    if (!ctx.alive()) return;
    const link = (id) => h('a', { href: `#/patient/${id}` }, names[id] || `record ${shortId(id)}`);
    if (!answer.items.length) {
      replace(results, message('info', showUndone ? 'No merges yet.' : 'No merge in force.'));
      return;
    }
    replace(results, table(`${answer.total} ${answer.total === 1 ? 'merge' : 'merges'}, newest first`,
      ['When', 'Kept', 'Retired', 'By', 'From', 'State', ''],
      answer.items.map((m) => [
        when(m.merged_at),
        link(m.target),
        link(m.source),
        m.actor,
        m.review_task_id ? h('a', { href: `#/task/${m.review_task_id}` }, 'review task') : 'direct merge',
        m.undone_at ? `undone ${when(m.undone_at)} by ${m.undone_by}` : 'in force',
        m.undone_at ? '' : h('button', { type: 'button', class: 'undo', 'data-merge-id': m.id, onclick: (e) => undo(m.id, e.currentTarget) }, 'Undo'),
      ]), { id: 'merges' }));
  }

  async function undo(mergeId, button) {
    button.disabled = true;
    try {
      await api.post(`/api/v1/merges/${mergeId}/undo`);
      announce('Merge undone');
      replace(feedback, message('ok', h('strong', {}, 'Merge undone. '), 'Both records are restored.'));
      await load();
    } catch (error) {
      button.disabled = false;
      replace(feedback, errorMessage(error, 'undo merges'));
    }
  }

  try {
    await load();
  } catch (error) {
    if (ctx.alive()) replace(results, errorMessage(error, 'read merges'));
  }
}
