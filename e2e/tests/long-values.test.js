// The stewards' page with realistic, long values: identifier systems written as OIDs and long
// names with apostrophes, diacritics and hyphens. At 800, 1280 and 1920 px wide nothing may
// spill out of its box (element boxes compared), the page may not scroll sideways, names are
// shown as stored, and each queue row says why the pair is there.
// Screenshots: target/e2e-artifacts/long-{queue,task}-{800,1280,1920}.png.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, screenshot, apiCall } from './harness.js';

const OID = 'urn:oid:1.2.826.0.1.3680043.2.1.4.7.12345.2026.11.30.999999';
const WIDTHS = [800, 1280, 1920];

function person(given, family, birthDate, mrn, extra = {}) {
  return {
    gender: 'female',
    birth_date: birthDate,
    names: [{ family, given, use: 'official' }],
    identifiers: [
      { type: 'MR', system: OID, value: mrn },
      { type: 'NI', system: 'urn:oid:2.16.840.1.113883.2.1.4.1.99999.1234567890', value: `NHS-${mrn}-0000000000000` },
    ],
    addresses: [{ lines: ['Flat 12b, The Old Chandlery Warehouse, 141-145 Commercial Road East'], city: 'Newcastle-under-Lyme', postal_code: 'ST5 1AA', country: 'GB', use: 'home' }],
    telecoms: [{ system: 'email', value: `${given[0].toLowerCase()}.${mrn.toLowerCase()}@very-long-hospital-trust-domain.nhs.example.org`, use: 'home' }],
    ...extra,
  };
}

const PEOPLE = [
  person(['Zoë', 'Anne-Marie'], 'Müller-Lüdenscheidt', '1987-04-12', 'LV-1001'),
  person(['Zoe', 'Anne-Marie'], 'Muller-Ludenscheidt', '1987-04-12', 'LV-1002'),
  person(['Siobhán'], "O'Connell-Fitzgerald-MacGillycuddy", '1971-05-09', 'LV-2001'),
  person(['Siobhan'], "O'Connell-Fitzgerald-MacGillycuddy", '1971-05-09', 'LV-2002'),
  person(['Mairead'], 'McDonald', '1964-01-21', 'LV-3001'),
  person(['Mairead'], 'McDonald', '1964-01-21', 'LV-3002'),
];

/**
 * Elements inside `root` whose box reaches past `root`'s box (or past the viewport), ignoring
 * those clipped by an ancestor with overflow hidden (text cut with an ellipsis).
 */
async function overflowing(page, rootSelector) {
  return page.evaluate((selector) => {
    const root = document.querySelector(selector);
    if (!root) return [`${selector} is missing`];
    const box = root.getBoundingClientRect();
    const limit = Math.min(box.right, document.documentElement.clientWidth);
    const clipped = (el) => {
      for (let p = el.parentElement; p && p !== root.parentElement; p = p.parentElement) {
        const style = getComputedStyle(p);
        if (style.overflowX === 'hidden' || style.overflowX === 'clip') return true;
      }
      return false;
    };
    const out = [];
    for (const el of [root, ...root.querySelectorAll('*')]) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (el !== root && clipped(el)) continue;
      if (r.right > limit + 0.5 || r.left < box.left - 0.5) {
        out.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${el.className} [${Math.round(r.left)}, ${Math.round(r.right)}] outside [${Math.round(box.left)}, ${Math.round(limit)}]: ${String(el.textContent).slice(0, 60)}`);
      }
    }
    return out;
  }, rootSelector);
}

async function noSidewaysScroll(page) {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(scroll <= client, `the page scrolls sideways: ${scroll} > ${client}`);
}

/** Every element whose text is cut with an ellipsis carries its whole text in a title. */
async function truncatedHaveTitles(page) {
  const missing = await page.evaluate(() => [...document.querySelectorAll('main *')]
    .filter((el) => getComputedStyle(el).textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth)
    .filter((el) => !el.title || !el.title.trim())
    .map((el) => el.textContent.slice(0, 60)));
  assert.deepEqual(missing, [], 'cut text has its full text on hover');
}

let server;
let browser;
let page;
let problems;

describe("the stewards' page with long identifiers and names", () => {
  before(async () => {
    server = await startServer();
    for (const p of PEOPLE) {
      const { status, body } = await apiCall(server, server.keys.steward, 'POST', '/api/v1/patients?force=true', p);
      assert.equal(status, 201, JSON.stringify(body));
    }
    ({ browser, page, problems } = await launchBrowser());
    await page.goto(`${server.url}/`);
    await page.getByLabel('API key').fill(server.keys.steward);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#queue-table').waitFor();
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('shows names in the queue as stored, and why each pair is there', async () => {
    await page.setViewportSize({ width: 1920, height: 1080 });
    await page.goto(`${server.url}/#/queue`);
    await page.locator('#queue-table tbody tr').first().waitFor();
    const names = await page.locator('#queue-table .pair-line').evaluateAll((lines) => lines.map((l) => l.title));
    for (const stored of ['Zoë Anne-Marie Müller-Lüdenscheidt', "Siobhán O'Connell-Fitzgerald-MacGillycuddy", 'Mairead McDonald']) {
      assert.ok(names.includes(stored), `${stored} in ${JSON.stringify(names)}`);
    }
    const text = await page.locator('#queue-table').innerText();
    assert.doesNotMatch(text, /Oconnell|Mcdonald|Muller Ludenscheidt/, 'no re-cased names');
    // Each row lists its strongest agreeing comparisons (and disagreeing ones where there are).
    const rows = await page.locator('#queue-table tbody tr').count();
    assert.ok(rows >= 3, `${rows} rows`);
    assert.equal(await page.locator('#queue-table tbody tr:not(:has(li.why-agree))').count(), 0, 'every row says what agrees');
  });

  for (const width of WIDTHS) {
    it(`fits the queue and a task at ${width} px`, async () => {
      await page.setViewportSize({ width, height: width === 800 ? 900 : Math.round(width * 9 / 16) });
      await page.goto(`${server.url}/#/queue`);
      await page.locator('#queue-table tbody tr').first().waitFor();
      await noSidewaysScroll(page);
      assert.deepEqual(await overflowing(page, '#queue-table'), []);
      assert.deepEqual(await overflowing(page, 'main'), []);
      await truncatedHaveTitles(page);
      await screenshot(page, `long-queue-${width}`);

      await page.locator('a.task-link', { hasText: 'Müller' }).first().click();
      await page.locator('#compare').waitFor();
      await noSidewaysScroll(page);
      // The side-by-side table stays inside its card, and (beside it) clear of the Decide panel.
      assert.deepEqual(await overflowing(page, '#compare'), []);
      assert.deepEqual(await overflowing(page, 'main'), []);
      const boxes = await page.evaluate(() => {
        const r = (el) => el && el.getBoundingClientRect().toJSON();
        const compare = document.querySelector('#compare');
        return { compare: r(compare), card: r(compare.closest('.card') || compare.parentElement), actions: r(document.querySelector('.actions')) };
      });
      assert.ok(boxes.compare.right <= boxes.card.right + 0.5, `the table spills out of its card: ${JSON.stringify(boxes)}`);
      if (boxes.actions && boxes.actions.top < boxes.compare.bottom && boxes.actions.left > boxes.compare.left) {
        assert.ok(boxes.compare.right <= boxes.actions.left + 0.5, `the table runs under the Decide panel: ${JSON.stringify(boxes)}`);
      }
      // The whole identifier system is on the page (wrapped, not cut).
      assert.match(await page.locator('tr[data-field=identifier]').innerText(), /1\.2\.826\.0\.1\.3680043/);
      assert.match(await page.locator('#compare thead').innerText(), /Müller-Lüdenscheidt/);
      await truncatedHaveTitles(page);
      await screenshot(page, `long-task-${width}`);
    });
  }

  it('loaded nothing from outside and raised no script error', () => {
    assert.deepEqual(problems, []);
  });
});
