// Turning API values into short text for people: names, dates, scores, comparison levels.

import { h } from './dom.js';

/** "Given Middle Family" of a FHIR-like name, or its text. */
export function nameText(name) {
  if (!name) return '';
  const parts = [...(name.prefix || []), ...(name.given || []), name.family, ...(name.suffix || [])].filter(Boolean);
  return parts.length ? parts.join(' ') : (name.text || '');
}

/** The record's first (primary) name, or a placeholder. */
export function displayName(patient) {
  const first = patient && patient.names && patient.names[0];
  return nameText(first) || '(no name)';
}

export function shortId(id) {
  return id ? String(id).slice(0, 8) : '';
}

/** A date-time as "2026-01-31 14:05" in the browser's time zone. */
export function when(value) {
  if (!value) return '';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function percent(probability) {
  if (probability === null || probability === undefined) return '';
  const v = probability * 100;
  return `${v >= 99.95 || v < 0.05 ? v.toFixed(0) : v.toFixed(1)} %`;
}

export function signed(weight, digits = 2) {
  if (weight === null || weight === undefined) return '';
  const s = Number(weight).toFixed(digits);
  return weight > 0 ? `+${s}` : s.replace('-', '−');
}

/** The score band of a probability, as used by the queue's filter. */
export const BANDS = {
  high: { label: 'High (90 % and over)', min: 0.9, max: null },
  medium: { label: 'Medium (70 – 90 %)', min: 0.7, max: 0.9 },
  low: { label: 'Low (under 70 %)', min: null, max: 0.7 },
};

export function bandOf(probability) {
  if (probability >= 0.9) return 'high';
  if (probability >= 0.7) return 'medium';
  return 'low';
}

/** A score badge: percentage and band, readable without colour. */
export function scoreBadge(probability) {
  const band = bandOf(probability);
  return h('span', { class: `score ${band}`, title: `match probability, ${band} band` }, percent(probability));
}

export const STATUS_LABELS = {
  open: 'Open',
  merged: 'Merged',
  linked: 'Linked',
  not_duplicate: 'Not a duplicate',
};

export function statusBadge(status) {
  return h('span', { class: `status ${status}` }, STATUS_LABELS[status] || status);
}

/**
 * How a comparison came out, for marking a row: agree (exact), similar (a partial level that
 * still adds weight), conflict (different), missing (a value absent on one side).
 */
export function agreement(comparison) {
  if (!comparison) return 'none';
  const level = comparison.level;
  if (level === 'missing') return 'missing';
  if (level === 'exact' || level === 'agree') return 'agree';
  if (level === 'different' || level === 'disagree') return 'conflict';
  return comparison.weight > 0 ? 'similar' : 'conflict';
}

export const AGREEMENT_LABELS = {
  agree: '✓ agrees',
  similar: '≈ similar',
  conflict: '✗ differs',
  missing: '– missing',
  none: '',
};

export const COMPARISON_LABELS = {
  given_name: 'Given names',
  family_name: 'Family name',
  birth_date: 'Birth date',
  sex: 'Sex',
  identifier: 'Identifiers',
  address: 'Address',
  city: 'City',
  phone: 'Phone',
  email: 'Email',
};

export function levelText(level) {
  return String(level || '').replaceAll('_', ' ');
}

export function addressText(a) {
  if (!a) return '';
  return [...(a.lines || []), [a.postal_code, a.city].filter(Boolean).join(' '), a.state, a.country]
    .filter(Boolean).join(', ');
}

export function identifierText(i) {
  return `${i.value} (${i.type ? `${i.type}, ` : ''}${i.system})`;
}

export function telecomText(t) {
  return `${t.value} (${t.system}${t.use ? `, ${t.use}` : ''})`;
}
