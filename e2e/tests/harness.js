// Test harness of the browser suite: a real `mpi serve` on a fresh SQLite file (port 0), keys
// made with `mpi keys create`, invented patients registered through the public API, and
// headless Chromium (the system's, through playwright-core; no browser download).

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
export const artifacts = path.join(root, 'target', 'e2e-artifacts');
const bin = process.env.MPI_BIN || path.join(root, 'target', 'debug', 'mpi');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

/** Starts `mpi serve` on a fresh database; resolves to {url, dir, keys, stop}. */
export async function startServer() {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run cargo build --bin mpi (scripts/e2e does)`);
  const dir = mkdtempSync(path.join(tmpdir(), 'mpi-e2e-'));
  const database = `sqlite://${path.join(dir, 'mpi.db')}?mode=rwc`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MPI_') && k !== 'RUST_LOG' && k !== 'DATABASE_URL'));
  const keys = {};
  for (const role of ['steward', 'registrar']) {
    const out = execFileSync(bin, ['keys', 'create', '--name', `e2e-${role}`, '--role', role, '--database-url', database], { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    keys[role] = out.trim().split('\n').pop().trim();
  }
  const child = spawn(bin, ['serve', '--bind', '127.0.0.1:0', '--database-url', database, '--workers', '2'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mpi serve did not start in 60 s:\n${log}`)), 60_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const m = log.match(/mpi listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`mpi serve exited (${code}):\n${log}`)); });
  });
  child.removeAllListeners('exit');
  return {
    url,
    keys,
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => { if (child.exitCode !== null) resolve(); else child.once('exit', resolve); });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Calls the API as `key`; resolves to {status, body}. */
export async function apiCall(server, key, method, apiPath, body) {
  const response = await fetch(server.url + apiPath, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  try {
    return { status: response.status, body: text ? JSON.parse(text) : null };
  } catch {
    throw new Error(`${method} ${apiPath}: ${response.status}, not JSON: ${text.slice(0, 300)}`);
  }
}

function person(given, family, birthDate, mrn, { street = '12 Orchard Lane', city = 'Exeter', postal = 'EX4 4QJ', phone = '01392 555 0101', gender = 'female', system = 'urn:e2e:mrn' } = {}) {
  return {
    gender,
    birth_date: birthDate,
    names: [{ family, given: [given], use: 'official' }],
    identifiers: [{ type: 'MR', system, value: mrn }],
    addresses: [{ lines: [street], city, postal_code: postal, country: 'GB', use: 'home' }],
    telecoms: [{ system: 'phone', value: phone, use: 'home' }],
  };
}

/**
 * Invented people, registered with force=true so that each near-duplicate opens a review task:
 * exact repeats, a nickname, a typo in the family name, a moved household, weaker pairs. Returns the open
 * tasks, highest score first.
 */
export async function seed(server) {
  const key = server.keys.steward;
  const people = [
    person('Winifred', 'Greenhalgh', '1958-10-10', 'E2E-1001'),
    person('Winifred', 'Greenhalgh', '1958-10-10', 'E2E-1002'),
    person('Margaret', 'Whitfield', '1961-04-12', 'E2E-2001', { street: '14 Kent Street', postal: 'EX1 1AA', phone: '01392 555 0202' }),
    person('Peggy', 'Whitfield', '1961-04-12', 'E2E-2002', { street: '14 Kent St', postal: 'EX1 1AA', phone: '01392 555 0202' }),
    person('Luca', 'Marchetti', '1993-03-03', 'E2E-3001', { gender: 'male', street: '3 Bay Lane', postal: 'EX2 5DW', phone: '01392 555 0303' }),
    person('Luca', 'Marcheti', '1993-03-03', 'E2E-3002', { gender: 'male', street: '3 Bay Lane', postal: 'EX2 5DW', phone: '01392 555 0303' }),
    person('Imogen', 'Hartley', '1984-07-19', 'E2E-4001', { street: '7 Mill Way', postal: 'EX3 0PB', phone: '01392 555 0404' }),
    person('Imogen', 'Hartley', '1984-07-19', 'E2E-4002', { street: '91 Quay Road', city: 'Plymouth', postal: 'PL1 2AB', phone: '01752 555 0909' }),
    person('Oskar', 'Lindqvist', '1977-01-30', 'E2E-5001', { gender: 'male', street: '5 River Close', postal: 'EX5 1LB', phone: '01392 555 0505' }),
    person('Oskar', 'Lindquist', '1977-10-30', 'E2E-5002', { gender: 'male', street: '18 Station Road', city: 'Exmouth', postal: 'EX8 2QA', phone: '01395 555 0606' }),
    person('Ruth', 'Abernethy', '1949-06-02', 'E2E-6001', { street: '2 Chapel Row', postal: 'EX6 7AB', phone: '01392 555 0707' }),
    // A clinic's record of Ruth under its own identifier: same birth date, a typo in the family
    // name, another address and phone. It scores in the medium band (0.78 with the built-in model),
    // which the queue's band filter is tested on.
    person('Ruth', 'Abernathy', '1949-06-02', 'CLINIC-78', { street: '40 Harbour View', city: 'Exmouth', postal: 'EX8 1DD', phone: '01395 555 0808', system: 'urn:e2e:clinic' }),
  ];
  for (const p of people) {
    const { status, body } = await apiCall(server, key, 'POST', '/api/v1/patients?force=true', p);
    if (status !== 201) throw new Error(`seeding: ${status} ${JSON.stringify(body)}`);
  }
  const { body } = await apiCall(server, key, 'GET', '/api/v1/review-tasks?status=open&per_page=50');
  if (body.items.length < 3) throw new Error(`seeding opened only ${body.items.length} review tasks`);
  return body.items;
}

/** Headless Chromium from the system packages, fresh profile, 1366x768 (a laptop screen). */
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // Chromium logs every non-2xx answer as a console error; the page's own errors are kept.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`); });
  // Nothing may be loaded from anywhere but the server under test.
  page.on('request', (r) => { if (!/^(http:\/\/127\.0\.0\.1:|data:|about:)/.test(r.url())) problems.push(`outside request: ${r.url()}`); });
  return { browser, page, problems };
}

export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}
