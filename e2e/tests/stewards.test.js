// The stewards' page in a real browser against a real `mpi serve`: sign in, the queue, a task
// side by side, merge with preview, undo, not a duplicate, the queue shrinking, patient search
// and page, recent merges, and API errors shown without losing the typed note.
// Screenshots of the main pages go to target/e2e-artifacts/.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, seed, launchBrowser, screenshot, apiCall } from './harness.js';

let server;
let browser;
let page;
let problems;
let tasks;

/** The queue depth the page shows. */
async function shownDepth() {
  await page.goto(`${server.url}/#/queue`);
  await page.reload(); // a fresh page, never the depth of an earlier render
  const depth = page.locator('#queue-depth[data-depth]');
  await depth.waitFor();
  return Number(await depth.getAttribute('data-depth'));
}

async function openDepth() {
  const { body } = await apiCall(server, server.keys.steward, 'GET', '/api/v1/review-tasks?per_page=1');
  return body.queue_depth;
}

async function signIn(key) {
  await page.goto(`${server.url}/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Opens the task of the pair whose records include `family` (from the queue page). */
async function openTaskOf(family) {
  await page.goto(`${server.url}/#/queue`);
  await page.locator('#queue-table').waitFor();
  await page.locator('a.task-link', { hasText: family }).first().click();
  await page.locator('#compare').waitFor();
}

describe("the data stewards' page", () => {
  before(async () => {
    server = await startServer();
    tasks = await seed(server);
    ({ browser, page, problems } = await launchBrowser());
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('is served by mpi serve with a strict Content-Security-Policy', async () => {
    const response = await page.goto(`${server.url}/`);
    assert.equal(response.status(), 200);
    const csp = response.headers()['content-security-policy'];
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
  });

  it('refuses a wrong key, explains a role that may not review, and signs a steward in', async () => {
    await signIn('mpi_not_a_key');
    await page.getByRole('alert').filter({ hasText: 'Key not accepted' }).waitFor();
    await signIn(server.keys.registrar);
    await page.getByRole('alert').filter({ hasText: "This key's role may not review tasks" }).waitFor();
    await screenshot(page, 'sign-in-refused');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mpi.key')), null, 'a refused key is not kept');

    await signIn(server.keys.steward);
    await page.locator('#queue-table').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mpi.key')), server.keys.steward);
    assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
    assert.ok(!page.url().includes(server.keys.steward), 'the key is not in the URL');
  });

  it('shows the queue by score with its depth', async () => {
    const depth = await shownDepth();
    assert.equal(depth, tasks.length);
    await page.locator('#queue-table tbody tr').first().waitFor();
    const rows = await page.locator('#queue-table tbody tr').count();
    assert.equal(rows, tasks.length);
    const first = await page.locator('#queue-table tbody tr').first().getAttribute('data-task-id');
    assert.equal(first, tasks[0].id, 'highest score first');
    assert.match(await page.locator('#queue-table').innerText(), /Greenhalgh/);
    await screenshot(page, 'queue');

    // The score band filter narrows the list (and keeps its state in the hash).
    await page.getByLabel('Score band').selectOption('medium');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/band=medium/);
    const medium = tasks.filter((t) => t.probability >= 0.7 && t.probability < 0.9);
    assert.ok(medium.length > 0 && medium.length < tasks.length, 'the seed has tasks in more than one band');
    await page.locator('#queue-page', { hasText: `${medium.length} task` }).waitFor();
    const shown = await page.locator('#queue-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.taskId));
    assert.deepEqual(shown, medium.map((t) => t.id));
    // A date range that ended yesterday holds no task.
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await page.goto(`${server.url}/#/queue?to=${yesterday}`);
    await page.getByText('No tasks match these filters').waitFor();
  });

  it('shows a task side by side with the explanation, merges after a preview, and undoes the merge', async () => {
    const before = await openDepth();
    await openTaskOf('Whitfield');
    const compare = page.locator('#compare');
    assert.match(await compare.innerText(), /Margaret/);
    assert.match(await compare.innerText(), /Peggy/);
    // Given names differ by a nickname: marked similar; the birth date agrees.
    assert.match(await page.locator('tr[data-field=given_name]').getAttribute('class'), /cmp-similar/);
    assert.match(await page.locator('tr[data-field=birth_date]').getAttribute('class'), /cmp-agree/);
    const explanation = await page.locator('#explanation').innerText();
    assert.match(explanation, /nickname/);
    assert.match(await page.locator('#probability').innerText(), /%/);
    await screenshot(page, 'task');

    await page.locator('#note').fill('same person, Peggy is a nickname');
    await page.getByRole('button', { name: /Preview merge/ }).click();
    const preview = page.locator('#merge-preview');
    await preview.getByRole('heading', { name: 'Merge preview' }).waitFor();
    assert.match(await preview.innerText(), /is kept/);
    assert.match(await preview.innerText(), /\+ from B|\+ from A/, 'values the survivor gains are marked');
    await screenshot(page, 'merge-preview');
    assert.equal(await openDepth(), before, 'a preview changes nothing');

    await preview.getByRole('button', { name: 'Confirm merge' }).click();
    await page.locator('#task-outcome').getByText('Merged:').waitFor();
    assert.equal(await openDepth(), before - 1);
    await screenshot(page, 'merged');

    await page.locator('#undo-merge').click();
    await page.locator('#task-outcome').getByText('Merge undone').waitFor();
    await page.locator('#preview-merge').waitFor();
    assert.equal(await openDepth(), before, 'undo reopens the task');
    assert.equal(await page.locator('#note').inputValue(), '', 'a fresh form for the reopened task');
  });

  it('marks a pair not a duplicate and the queue shrinks', async () => {
    const before = await shownDepth();
    await openTaskOf('Hartley');
    await page.locator('#note').fill('different people: one moved to Plymouth years ago');
    await page.getByRole('button', { name: /Not a duplicate/ }).click();
    await page.locator('#task-outcome').getByText('Marked as not a duplicate').waitFor();
    assert.equal(await shownDepth(), before - 1, 'the page shows the queue one shorter');
    assert.doesNotMatch(await page.locator('#queue-table').innerText(), /Hartley/);
  });

  it('merges with the keyboard and undoes it from the recent merges page', async () => {
    const before = await shownDepth();
    await openTaskOf('Marchet');
    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('b');
    assert.ok(await page.locator('#keep-b').isChecked());
    await page.keyboard.press('m');
    await page.locator('#confirm-merge').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'confirm-merge');
    await page.keyboard.press('Enter');
    await page.locator('#task-outcome').getByText('Merged:').waitFor();
    assert.equal(await shownDepth(), before - 1);

    await page.goto(`${server.url}/#/merges`);
    await page.locator('#merges').waitFor();
    assert.match(await page.locator('#merges').innerText(), /Marchet/);
    await screenshot(page, 'recent-merges');
    await page.locator('#merges button.undo').first().click();
    await page.locator('#merges-feedback').getByText('Merge undone').waitFor();
    assert.equal(await shownDepth(), before);
  });

  it('shows an API error plainly and keeps the typed note', async () => {
    await openTaskOf('Greenhalgh');
    const taskId = page.url().split('/').pop();
    // Someone else decides the task meanwhile.
    const other = await apiCall(server, server.keys.steward, 'POST', `/api/v1/review-tasks/${taskId}/decision`, { action: 'link', note: 'decided elsewhere' });
    assert.equal(other.status, 200);
    const note = 'checked the paper file: same person';
    await page.locator('#note').fill(note);
    await page.getByRole('button', { name: /Not a duplicate/ }).click();
    const alert = page.locator('#action-feedback [role=alert]');
    await alert.waitFor();
    assert.match(await alert.innerText(), /already decided/);
    assert.match(await alert.innerText(), /409 task_decided/);
    assert.equal(await page.locator('#note').inputValue(), note, 'the note is kept');
    assert.ok(await page.getByRole('button', { name: /Not a duplicate/ }).isEnabled(), 'the form can be used again');
    await screenshot(page, 'error-kept-note');
  });

  it('finds patients and shows a patient with links and merge history', async () => {
    await page.goto(`${server.url}/#/patients`);
    await page.getByLabel('Name (any part)').fill('Marchet');
    await page.getByRole('button', { name: 'Search' }).click();
    const results = page.locator('#patient-results');
    await results.waitFor();
    assert.equal(await results.locator('tbody tr').count(), 2);
    await screenshot(page, 'patient-search');
    assert.ok(!page.url().includes('Marchet'), 'search criteria stay out of the URL');

    await results.locator('a', { hasText: 'Marcheti' }).click();
    await page.locator('#merge-history').waitFor();
    assert.match(await page.locator('#merge-history').innerText(), /undone/);
    assert.match(await page.locator('h1').innerText(), /Marcheti/);
    await screenshot(page, 'patient-merge-history');

    // The pair linked in the previous test: seealso links both ways.
    await page.goto(`${server.url}/#/patients`);
    await page.getByLabel('Name (any part)').fill('Greenhalgh');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('#patient-results a').first().click();
    const links = page.locator('#links');
    await links.waitFor();
    assert.match(await links.innerText(), /seealso/);
    assert.match(await links.innerText(), /Winifred Greenhalgh/);
    await screenshot(page, 'patient');
  });

  it('sends a revoked or forgotten key back to sign-in', async () => {
    await page.evaluate(() => sessionStorage.setItem('mpi.key', 'mpi_revoked'));
    await page.goto(`${server.url}/#/queue`);
    await page.getByRole('alert').filter({ hasText: 'Signed out' }).waitFor();
    await page.getByLabel('API key').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mpi.key')), null);
  });

  it('loaded nothing from outside and raised no script error', () => {
    assert.deepEqual(problems, []);
  });
});
