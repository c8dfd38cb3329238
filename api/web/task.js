// One review task: the two records side by side, field by field, marked by how the matcher
// compared them; its explanation; and the decisions (merge with a preview first, link, not a
// duplicate) with a note, plus undo of the merge the task led to.

import * as api from './api.js';
import { h, replace, message, table, announce, errorMessage, go } from './dom.js';
import {
  AGREEMENT_LABELS, COMPARISON_LABELS, addressText, agreement, displayName, identifierText,
  levelText, percent, scoreBadge, signed, statusBadge, telecomText, when, shortId, nameText,
} from './format.js';

const PHONE_SYSTEMS = ['phone', 'sms', 'fax', 'pager'];

/** The rows of the side-by-side table: a label, each record's values, the comparison name. */
function fieldRows(a, b) {
  const lines = (p, f) => f(p).filter((x) => x !== null && x !== undefined && x !== '');
  return [
    ['Given names', (p) => p.names.map((n) => (n.given || []).join(' ')), 'given_name'],
    ['Family name', (p) => p.names.map((n) => n.family), 'family_name'],
    ['Birth date', (p) => [p.birth_date], 'birth_date'],
    ['Sex', (p) => [p.gender], 'sex'],
    ['Identifiers', (p) => p.identifiers.map(identifierText), 'identifier'],
    ['Address', (p) => p.addresses.map(addressText), 'address'],
    ['City', (p) => p.addresses.map((x) => x.city), 'city'],
    ['Phone', (p) => p.telecoms.filter((t) => PHONE_SYSTEMS.includes(t.system)).map(telecomText), 'phone'],
    ['Email', (p) => p.telecoms.filter((t) => t.system === 'email').map(telecomText), 'email'],
    ['Deceased', (p) => [p.deceased ? `yes${p.deceased_at ? `, ${when(p.deceased_at)}` : ''}` : 'no'], null],
    ['Record', (p) => [p.active ? 'active' : (p.replaced_by ? `merged into ${shortId(p.replaced_by)}` : 'inactive'), `created ${when(p.created_at)}`, `version ${p.version}`], null],
  ].map(([label, f, comparison]) => ({ label, a: lines(a, f), b: lines(b, f), comparison }));
}

function valueCell(values) {
  if (!values.length) return h('td', { class: 'empty' }, h('span', { class: 'muted' }, '—'));
  return h('td', {}, values.map((v) => h('div', { class: 'value', title: v }, v)));
}

function compareTable(view) {
  const byName = Object.fromEntries(view.explanation.comparisons.map((c) => [c.comparison, c]));
  const rows = fieldRows(view.a, view.b).map((row) => {
    const c = row.comparison ? byName[row.comparison] : null;
    const kind = c ? agreement(c) : 'none';
    return h('tr', { class: `cmp-${kind}`, 'data-field': row.comparison || row.label.toLowerCase() },
      h('th', { scope: 'row' }, row.label),
      valueCell(row.a),
      valueCell(row.b),
      h('td', { class: 'verdict' }, c
        ? [h('span', { class: `tag ${kind}` }, AGREEMENT_LABELS[kind]),
          h('span', { class: 'muted small' }, ` ${levelText(c.level)}${c.level === 'missing' ? '' : `, ${signed(c.weight)}`}`)]
        : ''));
  });
  const head = (p, letter) => h('th', { scope: 'col' },
    h('span', { class: 'letter' }, letter), ' ',
    h('a', { href: `#/patient/${p.id}`, title: displayName(p) }, displayName(p)),
    h('div', { class: 'muted small' }, `record ${shortId(p.id)}`));
  return h('table', { class: 'compare', id: 'compare' },
    h('caption', {}, 'The two records, field by field'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), head(view.a, 'A'), head(view.b, 'B'), h('th', { scope: 'col' }, 'Matcher'))),
    h('tbody', {}, rows));
}

function weightBar(weight, max) {
  const bar = h('span', { class: `bar ${weight >= 0 ? 'pos' : 'neg'}`, 'aria-hidden': 'true' });
  // CSSOM, not a style attribute: the page's CSP allows no inline styles.
  bar.style.width = `${Math.min(100, (Math.abs(weight) / max) * 100).toFixed(1)}%`;
  return h('span', { class: 'bar-track' }, bar);
}

function explanationSection(e) {
  const max = Math.max(1, ...e.comparisons.map((c) => Math.abs(c.weight)));
  const rows = e.comparisons.map((c) => [
    COMPARISON_LABELS[c.comparison] || c.comparison,
    h('span', { class: `tag ${agreement(c)}` }, levelText(c.level)),
    h('span', { class: 'num' }, signed(c.weight)),
    c.tf_adjustment ? h('span', { class: 'num muted' }, signed(c.tf_adjustment)) : h('span', { class: 'muted' }, '—'),
    weightBar(c.weight, max),
  ]);
  const total = [
    ['Prior weight (before any comparison)', signed(e.prior_weight)],
    e.move_adjustment ? ['Moved (address, city and phone differ together)', signed(e.move_adjustment)] : null,
    e.household_cap_adjustment ? ['Household cap (shared household)', signed(e.household_cap_adjustment)] : null,
    ['Total match weight', h('strong', {}, `${signed(e.match_weight)} bits`)],
    ['Match probability', h('strong', { id: 'probability' }, percent(e.probability))],
    ['Grade', levelText(e.decision)],
    e.review_reason ? ['Kept for review because', levelText(e.review_reason)] : null,
    ['Model', e.model_version],
  ].filter(Boolean);
  return h('section', { class: 'card', 'aria-labelledby': 'why-title' },
    h('h2', { id: 'why-title' }, 'Why the matcher scored this pair'),
    table('Each comparison: its level and the weight it added (bits)', ['Comparison', 'Level', 'Weight', 'of which rarity', ''], rows, { class: 'explain', id: 'explanation' }),
    h('dl', { class: 'totals' }, total.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
}

/** A record as it will be after the merge; values copied from the retired record are marked. */
function previewCard(target, source, letters) {
  const from = (x) => (x.source_patient_id ? h('span', { class: 'tag added' }, `+ from ${letters[x.source_patient_id] || 'other record'}`) : null);
  const list = (title, items, text) => [
    h('dt', {}, title),
    h('dd', {}, items.length ? h('ul', {}, items.map((x) => h('li', {}, text(x), ' ', from(x)))) : h('span', { class: 'muted' }, '—')),
  ];
  return h('div', { class: 'preview-record' },
    h('p', {}, h('strong', {}, `Record ${letters[target.id]} is kept`), ` (${displayName(target)}); record ${letters[source.id]} is retired and points to it.`),
    h('dl', { class: 'record' },
      list('Names', target.names, nameText),
      h('dt', {}, 'Birth date'), h('dd', {}, target.birth_date || '—'),
      h('dt', {}, 'Sex'), h('dd', {}, target.gender || '—'),
      list('Identifiers', target.identifiers, identifierText),
      list('Addresses', target.addresses, addressText),
      list('Contacts', target.telecoms, telecomText)));
}

export async function taskView(ctx) {
  const id = ctx.arg;
  const outcome = h('div', { id: 'task-outcome' });
  const body = h('div', {}, message('info', 'Loading the task…'));
  ctx.container.append(h('div', { class: 'title-row' }, h('h1', {}, 'Review task'), h('span', { id: 'task-badges' })), outcome, body);
  ctx.focusHeading();

  let lastMerge = null; // {merge_id} of the merge this page made or found for this task
  let busy = false;

  async function nextTask() {
    try {
      const answer = await api.get(`/api/v1/review-tasks${api.query({ status: 'open', per_page: 2 })}`);
      const next = answer.items.find((t) => t.id !== id);
      if (next) go(`#/task/${next.id}`);
      else {
        replace(outcome, message('ok', 'The queue is empty. ', h('a', { href: '#/queue' }, 'Back to the queue')));
        outcome.querySelector('a').focus();
      }
    } catch (error) {
      replace(outcome, errorMessage(error, 'read the review queue'));
    }
  }

  async function undo(mergeId, feedback) {
    if (busy) return;
    busy = true;
    try {
      await api.post(`/api/v1/merges/${mergeId}/undo`);
    } catch (error) {
      busy = false;
      replace(feedback, errorMessage(error, 'undo merges'));
      return;
    }
    busy = false;
    lastMerge = null;
    announce('Merge undone');
    try {
      await load();
    } catch (error) {
      replace(body, errorMessage(error, 'open review tasks'));
    }
    replace(outcome, message('ok', h('strong', {}, 'Merge undone. '), 'Both records are restored as they were and the task is open again.'));
    outcome.setAttribute('tabindex', '-1');
    outcome.focus();
  }

  function decidedBanner(kind, text, mergeId) {
    const feedback = h('div');
    const buttons = h('div', { class: 'buttons' },
      mergeId ? h('button', { type: 'button', id: 'undo-merge', onclick: () => undo(mergeId, feedback) }, 'Undo this merge (u)') : null,
      h('button', { type: 'button', class: 'primary', id: 'next-task', onclick: nextTask }, 'Next open task (j)'),
      h('a', { href: '#/queue' }, 'Back to the queue'));
    replace(outcome, message(kind, h('strong', {}, text), buttons), feedback);
  }

  async function load({ justDecided = false } = {}) {
    const view = await api.get(`/api/v1/review-tasks/${encodeURIComponent(id)}`);
    if (!ctx.alive()) return;
    const task = view.task;
    replace(document.getElementById('task-badges'), scoreBadge(view.explanation.probability), ' ', statusBadge(task.status));
    const letters = { [view.a.id]: 'A', [view.b.id]: 'B' };
    const side = h('aside', { class: 'actions card', 'aria-labelledby': 'decide-title' });
    replace(body,
      h('p', { class: 'muted' }, `Opened ${when(task.created_at)} · scored ${percent(task.probability)} then, ${percent(view.explanation.probability)} by the current model · task ${shortId(task.id)}`),
      h('div', { class: 'task-grid' },
        h('div', { class: 'task-main' },
          h('section', { class: 'card', 'aria-label': 'Side by side' }, compareTable(view),
            h('p', { class: 'legend muted small' }, 'Rows are marked ✓ agrees, ≈ similar, ✗ differs or – missing, as the matcher compared them.')),
          explanationSection(view.explanation)),
        side));

    if (task.status !== 'open') {
      side.append(h('h2', { id: 'decide-title' }, 'Decision'),
        h('p', {}, statusBadge(task.status), ` by ${task.decided_by || '?'} on ${when(task.decided_at)}`),
        h('p', {}, h('strong', {}, 'Note: '), task.note || h('span', { class: 'muted' }, 'none')));
      if (task.status === 'merged') {
        const feedback = h('div');
        side.append(feedback);
        try {
          const merges = await api.get(`/api/v1/merges${api.query({ patient_id: task.patient_a, undone: false, per_page: 50 })}`);
          const m = merges.items.find((x) => x.review_task_id === task.id);
          if (m && ctx.alive()) {
            lastMerge = { merge_id: m.id };
            if (!justDecided) side.append(h('button', { type: 'button', id: 'undo-merge-side', onclick: () => undo(m.id, feedback) }, 'Undo this merge (u)'));
          }
        } catch (error) {
          feedback.append(errorMessage(error, 'read merges'));
        }
      }
      side.append(h('p', {}, h('button', { type: 'button', class: 'primary', onclick: nextTask }, 'Next open task (j)')));
      ctx.setKeys((event) => {
        if (event.key === 'j') { nextTask(); return true; }
        if (event.key === 'u' && lastMerge) { undo(lastMerge.merge_id, outcome); return true; }
        return false;
      });
      return;
    }

    // An open task: choose the survivor, write a note, decide.
    const older = new Date(view.a.created_at) <= new Date(view.b.created_at) ? view.a : view.b;
    const radio = (p) => h('label', { class: 'choice' },
      h('input', { type: 'radio', name: 'survivor', value: p.id, id: `keep-${letters[p.id].toLowerCase()}`, checked: p.id === older.id }),
      ` Keep ${letters[p.id]}: ${displayName(p)}`,
      h('span', { class: 'muted small' }, ` (created ${when(p.created_at)}${p.id === older.id ? ', older' : ''})`));
    const note = h('textarea', { id: 'note', name: 'note', rows: '3', 'aria-describedby': 'note-help' });
    const feedback = h('div', { id: 'action-feedback' });
    const preview = h('div', { id: 'merge-preview' });
    const survivor = () => side.querySelector('input[name=survivor]:checked').value;
    const buttons = {
      merge: h('button', { type: 'button', class: 'primary', id: 'preview-merge' }, 'Preview merge… (m)'),
      link: h('button', { type: 'button', id: 'link' }, 'Link (l)'),
      not: h('button', { type: 'button', id: 'not-duplicate' }, 'Not a duplicate (n)'),
    };
    side.append(
      h('h2', { id: 'decide-title' }, 'Decide'),
      h('fieldset', {}, h('legend', {}, 'Record to keep if merged'), radio(view.a), radio(view.b)),
      h('label', { for: 'note' }, 'Note'),
      note,
      h('p', { id: 'note-help', class: 'help' }, 'Why you decided so; kept with the decision.'),
      h('div', { class: 'buttons' }, buttons.merge, buttons.link, buttons.not),
      feedback,
      preview,
      h('p', { class: 'help' }, 'Shortcuts: a/b keep A/B, m merge, l link, n not a duplicate, e note, ? all.'));

    const setBusy = (on) => {
      busy = on;
      for (const b of side.querySelectorAll('button')) b.disabled = on;
    };

    async function decide(action, extra, doing) {
      if (busy) return;
      setBusy(true);
      replace(feedback);
      let answer;
      try {
        answer = await api.post(`/api/v1/review-tasks/${encodeURIComponent(id)}/decision`, { action, note: note.value.trim() || null, ...extra });
      } catch (error) {
        // Nothing typed is lost: the form stays as it was, with the error above the preview.
        setBusy(false);
        replace(feedback, errorMessage(error, doing));
        feedback.setAttribute('tabindex', '-1');
        feedback.focus();
        return;
      }
      const mergeId = answer.merge && answer.merge.merge_id;
      lastMerge = mergeId ? { merge_id: mergeId } : null;
      busy = false;
      announce('Decision saved');
      replace(outcome);
      try {
        await load({ justDecided: true });
      } catch (error) {
        replace(body, errorMessage(error, 'open review tasks'));
      }
      const letter = (p) => (p ? letters[p.id] : '') || '';
      const text = {
        merge: `Merged: record ${letter(answer.merge && answer.merge.source)} is retired into record ${letter(answer.merge && answer.merge.target)}.`,
        link: 'Linked: both records stay in use and point to each other.',
        not_duplicate: 'Marked as not a duplicate: this pair will not be proposed again.',
      }[action];
      decidedBanner('ok', text, mergeId);
      outcome.setAttribute('tabindex', '-1');
      outcome.focus();
    }

    async function showPreview() {
      if (busy) return;
      setBusy(true);
      replace(feedback);
      replace(preview, message('info', 'Computing the merge…'));
      const target = survivor();
      const source = target === view.a.id ? view.b.id : view.a.id;
      try {
        const answer = await api.post('/api/v1/merges', { target, source, preview: true, review_task_id: id });
        setBusy(false);
        const confirm = h('button', { type: 'button', class: 'primary', id: 'confirm-merge' }, 'Confirm merge');
        const cancel = h('button', { type: 'button', id: 'cancel-merge' }, 'Cancel (Esc)');
        cancel.addEventListener('click', () => { replace(preview); buttons.merge.focus(); });
        confirm.addEventListener('click', () => decide('merge', { target }, 'merge records'));
        replace(preview, h('section', { class: 'preview', 'aria-labelledby': 'preview-title' },
          h('h3', { id: 'preview-title' }, 'Merge preview'),
          previewCard(answer.target, answer.source, letters),
          h('div', { class: 'buttons' }, confirm, cancel)));
        confirm.focus();
      } catch (error) {
        setBusy(false);
        replace(preview);
        replace(feedback, errorMessage(error, 'merge records'));
      }
    }

    buttons.merge.addEventListener('click', showPreview);
    buttons.link.addEventListener('click', () => decide('link', {}, 'link records'));
    buttons.not.addEventListener('click', () => decide('not_duplicate', {}, 'decide review tasks'));
    for (const input of side.querySelectorAll('input[name=survivor]')) {
      input.addEventListener('change', () => replace(preview)); // a preview of the other survivor is stale
    }
    preview.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && preview.firstChild) {
        replace(preview);
        buttons.merge.focus();
      }
    });

    ctx.setKeys((event) => {
      if (busy) return false;
      switch (event.key) {
        case 'a': case 'b': {
          const input = side.querySelector(`#keep-${event.key}`);
          input.checked = true;
          input.dispatchEvent(new Event('change'));
          input.focus();
          return true;
        }
        case 'm': showPreview(); return true;
        case 'l': decide('link', {}, 'link records'); return true;
        case 'n': decide('not_duplicate', {}, 'decide review tasks'); return true;
        case 'e': note.focus(); return true;
        case 'Escape':
          if (preview.firstChild) { replace(preview); buttons.merge.focus(); return true; }
          return false;
        case 'j':
          if (lastMerge === null && !outcome.firstChild) return false;
          nextTask(); return true;
        case 'u':
          if (lastMerge) { undo(lastMerge.merge_id, outcome); return true; }
          return false;
        default: return false;
      }
    });
  }

  try {
    await load();
  } catch (error) {
    if (ctx.alive()) replace(body, errorMessage(error, 'open review tasks'));
  }
}
