// Patient search and the patient page (the record, its links and its merge history).
// Search criteria are patient data: they go in a POST body, never in a URL, and are kept in
// this page's memory only (so going back shows the last results).

import * as api from './api.js';
import { h, replace, message, table, announce, errorMessage } from './dom.js';
import { addressText, displayName, identifierText, nameText, shortId, telecomText, when } from './format.js';

const FIELDS = [
  ['name', 'Name (any part)', 'text'],
  ['birth_date', 'Birth date', 'date'],
  ['identifier', 'Identifier (system|value)', 'text'],
  ['postal_code', 'Postal code', 'text'],
];

let lastSearch = null; // {criteria, answer}

function stateText(p) {
  if (p.replaced_by) return `merged into ${shortId(p.replaced_by)}`;
  return p.active ? 'active' : 'inactive';
}

function resultsTable(answer) {
  if (!answer.items.length) return message('info', 'No patient matches.');
  const rows = answer.items.map((p) => [
    h('a', { href: `#/patient/${p.id}` }, displayName(p)),
    p.birth_date || '—',
    p.gender || '—',
    p.identifiers.map((i) => h('div', {}, identifierText(i))),
    stateText(p),
  ]);
  return h('div', {},
    table(`${answer.total} ${answer.total === 1 ? 'patient' : 'patients'}${answer.total > answer.items.length ? ` (first ${answer.items.length} shown)` : ''}`,
      ['Name', 'Birth date', 'Sex', 'Identifiers', 'State'], rows, { id: 'patient-results' }));
}

export async function patientsView(ctx) {
  const results = h('div', { id: 'search-results', 'aria-live': 'polite' });
  const inputs = {};
  const form = h('form', { class: 'filters card', role: 'search', 'aria-label': 'Find patients' },
    FIELDS.map(([name, label, type]) => {
      inputs[name] = h('input', { id: `s-${name}`, name, type, autocomplete: 'off', spellcheck: 'false' });
      return h('div', { class: 'field' }, h('label', { for: `s-${name}` }, label), inputs[name]);
    }),
    h('div', { class: 'field buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Search')));
  ctx.container.append(h('h1', {}, 'Patients'), form, results);
  if (lastSearch) {
    for (const [k, v] of Object.entries(lastSearch.criteria)) inputs[k].value = v;
    replace(results, resultsTable(lastSearch.answer));
  }
  ctx.focusHeading();
  inputs.name.focus();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const criteria = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]));
    const body = Object.fromEntries(Object.entries(criteria).filter(([, v]) => v));
    if (!Object.keys(body).length) {
      replace(results, message('error', 'Enter at least one thing to search for.'));
      inputs.name.focus();
      return;
    }
    replace(results, message('info', 'Searching…'));
    try {
      const answer = await api.post('/api/v1/patients/_search', { ...body, per_page: 50 });
      lastSearch = { criteria, answer };
      replace(results, resultsTable(answer));
      announce(`${answer.total} found`);
    } catch (error) {
      replace(results, errorMessage(error, 'search patients'));
    }
  });
}

/** Names of other records by id (a few reads; failures leave the short id). */
async function namesOf(ids) {
  const names = {};
  await Promise.all([...new Set(ids)].slice(0, 12).map(async (id) => {
    try {
      names[id] = displayName(await api.get(`/api/v1/patients/${id}`));
    } catch {
      // leave the short id
    }
  }));
  return names;
}

function recordLink(id, names) {
  return h('a', { href: `#/patient/${id}` }, names[id] || `record ${shortId(id)}`);
}

function mergedFrom(x) {
  return x.source_patient_id ? h('span', { class: 'tag added' }, `from ${shortId(x.source_patient_id)}`) : null;
}

export async function patientView(ctx) {
  const id = ctx.arg;
  ctx.container.append(h('h1', {}, 'Patient'));
  const body = h('div', {}, message('info', 'Loading the record…'));
  ctx.container.append(body);
  ctx.focusHeading();
  const feedback = h('div', { id: 'patient-feedback' });

  async function load() {
    const p = await api.get(`/api/v1/patients/${encodeURIComponent(id)}`);
    let merges = null;
    let mergesError = null;
    try {
      merges = await api.get(`/api/v1/merges${api.query({ patient_id: id, per_page: 50 })}`);
    } catch (error) {
      mergesError = error;
    }
    const others = [
      ...p.links.map((l) => (l.patient_id === p.id ? l.other_patient_id : l.patient_id)),
      ...(merges ? merges.items.map((m) => (m.target === p.id ? m.source : m.target)) : []),
    ];
    const names = await namesOf(others);
    if (!ctx.alive()) return;
    const heading = ctx.container.querySelector('h1');
    replace(heading, displayName(p));
    document.title = `${displayName(p)} · MPI stewards`;

    const links = p.links.length
      ? table('Links from and to this record', ['Type', 'Other record', 'Made by', 'Why', 'When'], p.links.map((l) => {
        const outgoing = l.patient_id === p.id;
        return [
          outgoing ? l.type : `${l.type} (from the other record)`,
          recordLink(outgoing ? l.other_patient_id : l.patient_id, names),
          `${l.created_by} (${l.origin})`,
          l.reason || '—',
          when(l.created_at),
        ];
      }), { id: 'links' })
      : message('info', 'No links.');

    let history;
    if (mergesError) history = errorMessage(mergesError, 'read the merge history');
    else if (!merges.items.length) history = message('info', 'No merges.');
    else {
      history = table('Merges this record took part in, newest first', ['When', 'This record', 'Other record', 'By', 'State', ''], merges.items.map((m) => {
        const kept = m.target === p.id;
        return [
          when(m.merged_at),
          kept ? 'kept (survivor)' : 'retired',
          recordLink(kept ? m.source : m.target, names),
          m.actor,
          m.undone_at ? `undone ${when(m.undone_at)} by ${m.undone_by}` : 'in force',
          m.undone_at ? '' : h('button', { type: 'button', class: 'undo', 'data-merge-id': m.id, onclick: (e) => undo(m.id, e.currentTarget) }, 'Undo'),
        ];
      }), { id: 'merge-history' });
    }

    const list = (items, text) => (items.length
      ? h('ul', {}, items.map((x) => h('li', {}, text(x), x.use ? h('span', { class: 'muted' }, ` · ${x.use}`) : null, ' ', mergedFrom(x))))
      : h('span', { class: 'muted' }, '—'));
    replace(body,
      feedback,
      h('div', { class: 'patient-grid' },
        h('section', { class: 'card', 'aria-labelledby': 'rec-title' },
          h('h2', { id: 'rec-title' }, 'Record'),
          h('dl', { class: 'record' },
            h('dt', {}, 'State'), h('dd', { id: 'patient-state' }, p.replaced_by ? ['merged into ', recordLink(p.replaced_by, names)] : stateText(p)),
            h('dt', {}, 'Names'), h('dd', {}, list(p.names, nameText)),
            h('dt', {}, 'Birth date'), h('dd', {}, p.birth_date || '—'),
            h('dt', {}, 'Sex'), h('dd', {}, p.gender || '—'),
            h('dt', {}, 'Deceased'), h('dd', {}, p.deceased ? `yes ${when(p.deceased_at)}` : 'no'),
            h('dt', {}, 'Identifiers'), h('dd', {}, list(p.identifiers, identifierText)),
            h('dt', {}, 'Addresses'), h('dd', {}, list(p.addresses, addressText)),
            h('dt', {}, 'Contacts'), h('dd', {}, list(p.telecoms, telecomText)),
            h('dt', {}, 'Record id'), h('dd', {}, h('code', {}, p.id)),
            h('dt', {}, 'Person id'), h('dd', {}, h('code', {}, p.person_id)),
            h('dt', {}, 'Version'), h('dd', {}, `${p.version} · created ${when(p.created_at)} · changed ${when(p.updated_at)}`))),
        h('div', {},
          h('section', { class: 'card', 'aria-labelledby': 'links-title' }, h('h2', { id: 'links-title' }, 'Links'), links),
          h('section', { class: 'card', 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, 'Merge history'), history))));
  }

  async function undo(mergeId, button) {
    button.disabled = true;
    try {
      await api.post(`/api/v1/merges/${mergeId}/undo`);
      announce('Merge undone');
      await load();
      replace(feedback, message('ok', h('strong', {}, 'Merge undone. '), 'Both records are restored as they were.'));
    } catch (error) {
      button.disabled = false;
      replace(feedback, errorMessage(error, 'undo merges'));
    }
  }

  try {
    await load();
  } catch (error) {
    if (ctx.alive()) replace(body, errorMessage(error, 'read patients'));
  }
}
