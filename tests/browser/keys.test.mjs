// @ts-check
/**
 * Credentials › API keys in a real browser: creating a key through the
 * dialog and reading it once, its verification, rotating (with and without a
 * grace period) and revoking, the search, filters and paging kept in the
 * URL, the key's detail page charting the verifications just made, what a
 * member may and may not do (a forged POST gets the API's refusal), and axe
 * on the list, the dialogs and the detail page.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, csrfField, expectAccessible, fixture, newPage as harnessPage, signIn, verify } from './harness.mjs';
import { addMember, alertText, auditLogActions, forge, signInAsMember } from './members.mjs';

/** @typedef {import('node:test').TestContext} TestContext */
/** @typedef {import('playwright-core').Page} Page */
/** @typedef {import('playwright-core').Locator} Locator */

const ORG = 'Key Tests';
const f = fixture({ org: ORG });

/** What `POST /v1/api-keys` and its rotation answer: a key shown once. */
const KEY = /^[a-z]+_(live|test)_[A-Za-z0-9]{38}$/;

/**
 * A page signed in as the admin, in a browser context of its own that may
 * use the clipboard.
 * @param {TestContext} t
 */
async function adminPage(t) {
  const page = await harnessPage(t, f.browser, { permissions: ['clipboard-read', 'clipboard-write'] });
  await signIn(page, f.server.base, f.server.adminEmail, f.server.adminPassword);
  return page;
}

/** The admin's API client (the key `latchkey init` printed). */
const admin = () => api(f.server.base, f.server.adminKey);

/**
 * Creates a key through the API as `as` (default: the admin); answers its id and plaintext.
 * @param {Record<string, unknown>} body
 * @param {import('./harness.mjs').Api} [as]
 */
async function createKey(body, as = admin()) {
  const { status, body: answer } = await as.post('/v1/api-keys', body);
  assert.equal(status, 201, JSON.stringify(answer));
  f.server.secret(answer.data.key);
  return { id: /** @type {string} */ (answer.data.id), key: /** @type {string} */ (answer.data.key) };
}

/**
 * The show-once dialog (`title`: `Key created` or `Key rotated`), open, and the key it shows.
 * @param {Page} page
 * @param {string} title
 */
async function shownKey(page, title) {
  const dialog = page.getByRole('dialog', { name: title });
  await dialog.waitFor();
  const key = ((await dialog.getByText(KEY).textContent()) ?? '').trim();
  assert.match(key, KEY);
  f.server.secret(key);
  return { dialog, key };
}

/**
 * The table's row of the key named `name`.
 * @param {Page} page
 * @param {string} name
 */
const rowOf = (page, name) => page.getByRole('row').filter({ has: page.getByRole('cell', { name, exact: true }) });

/**
 * The names in the keys table, top to bottom.
 * @param {Page} page
 */
async function listedNames(page) {
  const rows = await page.getByRole('row').all();
  const names = [];
  for (const row of rows.slice(1)) {
    names.push(((await row.getByRole('cell').first().textContent()) ?? '').trim());
  }
  return names;
}

/**
 * The text of the element that describes `control` (its `aria-describedby`).
 * @param {Page} page
 * @param {Locator} control
 */
async function describedBy(page, control) {
  const id = await control.getAttribute('aria-describedby');
  assert.ok(id, 'the control has a description');
  return ((await page.locator(`[id="${id}"]`).textContent()) ?? '').trim();
}

/**
 * The POST a click sends to `path` and the answer's status.
 * @param {Page} page
 * @param {string} path
 * @param {() => Promise<void>} click
 */
async function submitted(page, path, click) {
  const answered = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === path);
  await click();
  const response = await answered;
  await page.waitForLoadState();
  return response.status();
}

test('an admin creates a key in the dialog, reads it once, copies it, and it verifies', async (t) => {
  const page = await adminPage(t);
  await expectAccessible(page, 'keys: list');
  await page.getByRole('button', { name: 'Create key' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create key' });
  await dialog.waitFor();
  await expectAccessible(page, 'keys: create dialog');

  await dialog.getByLabel('Name', { exact: true }).fill('browser ci');
  await dialog.getByRole('checkbox', { name: 'sandbox:create', exact: true }).check();
  await dialog.getByRole('checkbox', { name: 'keys:verify', exact: true }).check();
  // `*` and the catalog's scopes are there, each named by its scope string.
  for (const scope of ['*', 'sandbox:*', 'org:read', 'devboxes:write']) {
    await dialog.getByRole('checkbox', { name: scope, exact: true }).waitFor();
  }
  await dialog.getByLabel('Expires', { exact: true }).selectOption({ label: '30 days' });
  await dialog.getByLabel('Environment', { exact: true }).selectOption('test');
  await dialog.getByLabel('Rate limit per minute').fill('120');
  await dialog.getByLabel('Rate limit per day').fill('5000');
  const status = await submitted(page, '/dashboard/keys', () =>
    dialog.getByRole('button', { name: 'Create', exact: true }).click(),
  );
  assert.equal(status, 201);

  const shown = await shownKey(page, 'Key created');
  assert.match(shown.key, /^lk_test_/);
  await expectAccessible(page, 'keys: show-once dialog');
  assert.equal(
    ((await shown.dialog.getByText(/^LATCHKEY_API_KEY=/).textContent()) ?? '').trim(),
    `LATCHKEY_API_KEY=${shown.key}`,
  );
  assert.equal(await verify(f.server.base, shown.key, f.server.adminKey), 'VALID');

  // Copy says so, and the clipboard holds the key.
  await shown.dialog.getByRole('button', { name: 'Copy', exact: true }).click();
  await shown.dialog.getByRole('status').filter({ hasText: 'Copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), shown.key);
  // Copied: closing does not ask.
  await shown.dialog.getByRole('button', { name: 'Close', exact: true }).click();
  await shown.dialog.waitFor({ state: 'hidden' });

  // The API stored what the dialog said; the list shows the key, never its plaintext.
  const listed = await admin().get('/v1/api-keys?search=browser%20ci');
  const made = listed.body.data[0];
  assert.deepEqual(
    [[...made.scopes].sort(), made.environment, made.rateLimitPerMinute, made.rateLimitPerDay],
    [['keys:verify', 'sandbox:create'], 'test', 120, 5000],
  );
  assert.equal(Date.parse(made.expiresAt) - Date.parse(made.createdAt), 30 * 86_400_000);
  const row = rowOf(page, 'browser ci');
  await row.getByRole('cell', { name: `${shown.key.slice(0, 12)}…${shown.key.slice(-4)} test`, exact: true }).waitFor();
  await row.getByText('Never used').waitFor();
  assert.equal(await page.getByText(shown.key, { exact: true }).isVisible(), false);
  await page.goto(`${f.server.base}/dashboard/keys`);
  await rowOf(page, 'browser ci').waitFor();
  assert.equal((await page.content()).includes(shown.key), false, 'the list never shows the key again');
});

test('without JavaScript, the create form and the key shown once still work', async (t) => {
  const page = await harnessPage(t, f.browser, { javaScriptEnabled: false });
  await signIn(page, f.server.base, f.server.adminEmail, f.server.adminPassword);
  assert.equal(await page.getByRole('dialog').count(), 0, 'no dialog shows before it is asked for');
  // The Create key link leads to its dialog (#create-key), which the stylesheet shows.
  await page.getByRole('button', { name: 'Create key' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create key' });
  await dialog.waitFor();
  await dialog.getByLabel('Name', { exact: true }).fill('no script');
  await dialog.getByRole('checkbox', { name: 'sandbox:read', exact: true }).check();
  await dialog.getByRole('button', { name: 'Create', exact: true }).click();
  const shown = await shownKey(page, 'Key created');
  assert.equal(await verify(f.server.base, shown.key, f.server.adminKey), 'VALID');
});

test('closing the show-once dialog without copying asks first', async (t) => {
  const page = await adminPage(t);
  await page.getByRole('button', { name: 'Create key' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create key' });
  await dialog.getByLabel('Name', { exact: true }).fill('uncopied');
  await dialog.getByRole('checkbox', { name: 'org:read', exact: true }).check();
  await dialog.getByRole('button', { name: 'Create', exact: true }).click();
  const shown = await shownKey(page, 'Key created');

  await shown.dialog.getByRole('button', { name: 'Close', exact: true }).click();
  const back = shown.dialog.getByRole('button', { name: 'Go back' });
  await back.waitFor();
  await shown.dialog.getByText('The key has not been copied.').waitFor();
  await expectAccessible(page, 'keys: show-once dialog, asking before it closes');
  await back.click();
  await back.waitFor({ state: 'hidden' });
  assert.equal(await shown.dialog.isVisible(), true, 'going back keeps the key on screen');
  // Escape asks too.
  await page.keyboard.press('Escape');
  await back.waitFor();
  assert.equal(await shown.dialog.isVisible(), true);
  await shown.dialog.getByRole('button', { name: 'Close anyway' }).click();
  await shown.dialog.waitFor({ state: 'hidden' });
  assert.equal(await verify(f.server.base, shown.key, f.server.adminKey), 'VALID');
});

test("a refused create re-opens the dialog with the API's error and what was typed", async (t) => {
  const page = await adminPage(t);
  await page.getByRole('button', { name: 'Create key' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create key' });
  await dialog.getByLabel('Name', { exact: true }).fill('too late');
  await dialog.getByRole('checkbox', { name: 'sandbox:read', exact: true }).check();
  await dialog.getByLabel('Expires', { exact: true }).selectOption({ label: 'Custom date' });
  await dialog.getByLabel('Custom expiry date').fill('2001-01-01');
  await dialog.getByLabel('Rate limit per minute').fill('7');
  const status = await submitted(page, '/dashboard/keys', () =>
    dialog.getByRole('button', { name: 'Create', exact: true }).click(),
  );
  assert.equal(status, 400);

  const reopened = page.getByRole('dialog', { name: 'Create key' });
  await reopened.waitFor();
  const alert = ((await reopened.getByRole('alert').textContent()) ?? '').replace(/\s+/g, ' ');
  assert.match(alert, /expiresAt must be in the future/);
  assert.match(alert, /Error invalid_request · request \S+/);
  assert.doesNotMatch(alert, /request -/, 'the request id is shown');
  assert.equal(await reopened.getByLabel('Name', { exact: true }).inputValue(), 'too late');
  assert.equal(await reopened.getByRole('checkbox', { name: 'sandbox:read', exact: true }).isChecked(), true);
  assert.equal(await reopened.getByRole('checkbox', { name: 'sandbox:create', exact: true }).isChecked(), false);
  assert.equal(await reopened.getByLabel('Custom expiry date').inputValue(), '2001-01-01');
  assert.equal(await reopened.getByLabel('Rate limit per minute').inputValue(), '7');
  await expectAccessible(page, 'keys: create dialog with an error');
  const none = await admin().get('/v1/api-keys?search=too%20late');
  assert.equal(none.body.data.length, 0, 'nothing was created');

  // Fixed, it goes through.
  await reopened.getByLabel('Expires', { exact: true }).selectOption({ label: 'Never' });
  await reopened.getByRole('button', { name: 'Create', exact: true }).click();
  await shownKey(page, 'Key created');
});

test('rotate shows the new key once and keeps the old one through its grace; revoke ends it', async (t) => {
  const graced = await createKey({ name: 'rotate with grace', scopes: ['sandbox:read'] });
  const abrupt = await createKey({ name: 'rotate now', scopes: ['sandbox:read'] });
  const waiting = await createKey({ name: 'rotate until unused', scopes: ['sandbox:read'] });
  const page = await adminPage(t);

  // Rotate with 15 minutes of grace.
  await rowOf(page, 'rotate with grace').getByRole('button', { name: 'Rotate' }).click();
  const rotate = page.getByRole('dialog', { name: 'Rotate “rotate with grace”' });
  await rotate.waitFor();
  await expectAccessible(page, 'keys: rotate dialog');
  for (const choice of ['Now', '15 minutes', '1 hour', '24 hours', 'Until unused for an hour (at most 7 days)']) {
    await rotate.getByRole('radio', { name: choice, exact: true }).waitFor();
  }
  await rotate.getByRole('radio', { name: '15 minutes' }).check();
  const status = await submitted(page, `/dashboard/keys/${graced.id}/rotate`, () =>
    rotate.getByRole('button', { name: 'Rotate', exact: true }).click(),
  );
  assert.equal(status, 201);
  const shown = await shownKey(page, 'Key rotated');
  await shown.dialog.getByText(/The old key keeps working until \d{4}-\d\d-\d\d \d\d:\d\d UTC\./).waitFor();
  assert.notEqual(shown.key, graced.key);
  assert.equal(await verify(f.server.base, shown.key, f.server.adminKey), 'VALID');
  assert.equal(await verify(f.server.base, graced.key, f.server.adminKey), 'VALID', 'the old key works in its grace');
  await shown.dialog.getByRole('button', { name: 'Copy', exact: true }).click();
  await shown.dialog.getByRole('button', { name: 'Close', exact: true }).click();
  await shown.dialog.waitFor({ state: 'hidden' });

  // Rotate now: the old key stops at once.
  await rowOf(page, 'rotate now').getByRole('button', { name: 'Rotate' }).click();
  const now = page.getByRole('dialog', { name: 'Rotate “rotate now”' });
  assert.equal(await now.getByRole('radio', { name: 'Now' }).isChecked(), true, 'no grace unless chosen');
  await now.getByRole('button', { name: 'Rotate', exact: true }).click();
  const replaced = await shownKey(page, 'Key rotated');
  await replaced.dialog.getByText('The old key no longer works.').waitFor();
  assert.equal(await verify(f.server.base, abrupt.key, f.server.adminKey), 'REVOKED');
  assert.equal(await verify(f.server.base, replaced.key, f.server.adminKey), 'VALID');
  await replaced.dialog.getByRole('button', { name: 'Copy', exact: true }).click();
  await replaced.dialog.getByRole('button', { name: 'Close', exact: true }).click();
  await replaced.dialog.waitFor({ state: 'hidden' });

  // Rotate until unused: the old key keeps working until it goes quiet for an hour.
  await rowOf(page, 'rotate until unused').getByRole('button', { name: 'Rotate' }).click();
  const untilUnused = page.getByRole('dialog', { name: 'Rotate “rotate until unused”' });
  await untilUnused.getByRole('radio', { name: 'Until unused for an hour (at most 7 days)' }).check();
  await untilUnused.getByRole('button', { name: 'Rotate', exact: true }).click();
  const successor = await shownKey(page, 'Key rotated');
  await successor.dialog
    .getByText(/The old key keeps working until it has gone unused for 1h, at the latest until \d{4}-\d\d-\d\d \d\d:\d\d UTC\./)
    .waitFor();
  assert.equal(await verify(f.server.base, waiting.key, f.server.adminKey), 'VALID', 'the old key works while it waits');
  assert.equal(await verify(f.server.base, successor.key, f.server.adminKey), 'VALID');

  // Revoke the rotated-in key: its confirmation's button is named Revoke.
  await page.goto(`${f.server.base}/dashboard/keys?search=rotate%20with%20grace&status=active`);
  // The predecessor in its grace period is active too; the newer key is listed first.
  const rows = rowOf(page, 'rotate with grace');
  assert.equal(await rows.count(), 2);
  await rows.first().getByRole('button', { name: 'Revoke' }).click();
  const confirm = page.getByRole('dialog', { name: 'Revoke “rotate with grace”?' });
  await confirm.waitFor();
  await expectAccessible(page, 'keys: revoke dialog');
  const answered = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/revoke'));
  await confirm.getByRole('button', { name: 'Revoke', exact: true }).click();
  assert.equal((await answered).status(), 303, 'Post/Redirect/Get');
  await page.waitForURL(`${f.server.base}/dashboard/keys?done=revoked`);
  await page.getByRole('status').filter({ hasText: 'The key was revoked' }).waitFor();
  assert.equal(await verify(f.server.base, shown.key, f.server.adminKey), 'REVOKED');
  // The old one still has its grace; revoking it from its detail page ends it now.
  await page.goto(`${f.server.base}/dashboard/keys/${graced.id}`);
  await page.getByText(/rotated; works until/).waitFor();
  await page.getByRole('button', { name: 'Revoke' }).click();
  await page.getByRole('dialog', { name: 'Revoke “rotate with grace”?' }).getByRole('button', { name: 'Revoke' }).click();
  await page.waitForURL(`${f.server.base}/dashboard/keys/${graced.id}?done=revoked`);
  assert.equal(await verify(f.server.base, graced.key, f.server.adminKey), 'REVOKED');
  // A revoked key offers neither action.
  assert.equal(await page.getByRole('button', { name: 'Rotate' }).count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Revoke' }).count(), 0);

  // The Audit log lists what was done here: two rotations, two revocations.
  const logged = await auditLogActions(page, f.server.base);
  for (const action of ['api_key.rotate', 'api_key.revoke', 'api_key.create']) {
    assert.ok(logged.filter((a) => a === action).length >= 2, `${action} twice in ${logged}`);
  }
  assert.deepEqual([...new Set(await auditLogActions(page, f.server.base, 'api_key.revoke'))], ['api_key.revoke']);
});

test('search, filters and paging are kept in the URL', async (t) => {
  // 53 keys of one series (a page holds 50), two of them test keys, one revoked.
  const made = [];
  for (let i = 0; i < 53; i += 1) {
    const n = String(i).padStart(2, '0');
    made.push(await createKey({ name: `paged ${n}`, scopes: ['sandbox:read'], isTest: i === 7 || i === 8 }));
  }
  assert.equal((await admin().post(`/v1/api-keys/${made[3].id}/revoke`)).status, 200);
  const page = await adminPage(t);
  const filters = page.getByRole('search', { name: 'Filter keys' });

  // The filter form: its fields become the URL's query.
  await filters.getByLabel('Search', { exact: true }).fill('paged');
  await filters.getByRole('button', { name: 'Apply' }).click();
  await page.waitForURL(/\/dashboard\/keys\?search=paged$/);
  const first = await listedNames(page);
  assert.equal(first.length, 50);
  assert.deepEqual(first.slice(0, 2), ['paged 52', 'paged 51'], 'newest first');
  await page.getByRole('link', { name: 'Next page' }).click();
  await page.waitForURL(/\/dashboard\/keys\?search=paged&cursor=key_\w+$/);
  assert.deepEqual(await listedNames(page), ['paged 02', 'paged 01', 'paged 00']);
  assert.equal(await filters.getByLabel('Search', { exact: true }).inputValue(), 'paged', 'the form shows the filter in force');
  assert.equal(await page.getByRole('link', { name: 'Next page' }).count(), 0);
  await expectAccessible(page, 'keys: list, second page');
  await page.getByRole('link', { name: 'First page' }).click();
  await page.waitForURL(/\/dashboard\/keys\?search=paged$/);

  await filters.getByLabel('Status', { exact: true }).selectOption('revoked');
  await filters.getByRole('button', { name: 'Apply' }).click();
  await page.waitForURL(/\/dashboard\/keys\?search=paged&status=revoked$/);
  assert.deepEqual(await listedNames(page), ['paged 03']);

  await filters.getByLabel('Status', { exact: true }).selectOption('active');
  await filters.getByLabel('Environment', { exact: true }).selectOption('test');
  await filters.getByRole('button', { name: 'Apply' }).click();
  await page.waitForURL(/\/dashboard\/keys\?search=paged&status=active&environment=test$/);
  assert.deepEqual(await listedNames(page), ['paged 08', 'paged 07']);
  await rowOf(page, 'paged 08').getByText('test', { exact: true }).waitFor();

  // A URL made by hand is a filter too; the prefix of a shown key finds it.
  await page.goto(`${f.server.base}/dashboard/keys?search=${encodeURIComponent(made[40].key.slice(0, 12))}`);
  assert.deepEqual(await listedNames(page), ['paged 40']);
  await page.goto(`${f.server.base}/dashboard/keys?search=no%20such%20key`);
  await page.getByText('No keys match these filters.').waitFor();
  await expectAccessible(page, 'keys: list, nothing matches');
  await page.getByRole('link', { name: 'Clear filters' }).click();
  await page.waitForURL(`${f.server.base}/dashboard/keys`);
  // A status the API does not know is its 400, as the error page.
  const bad = await page.goto(`${f.server.base}/dashboard/keys?status=rotating`);
  assert.equal(bad?.status(), 400);
  await page.getByRole('alert').getByText('invalid_request').waitFor();
});

test('the detail page charts the verifications just made, by outcome', async (t) => {
  const { id, key } = await createKey({ name: 'charted', scopes: ['sandbox:read'], rateLimitPerMinute: 3 });
  const verifier = api(f.server.base, f.server.adminKey);
  /** @type {Record<string, number>} */
  const answered = {};
  const ask = async (/** @type {Record<string, unknown>} */ extra = {}) => {
    const { status, body } = await verifier.post('/v1/keys/verify', { key, ...extra });
    assert.equal(status, 200);
    answered[body.data.code] = (answered[body.data.code] ?? 0) + 1;
  };
  await ask({ scopes: ['org:write'] });
  for (let i = 0; i < 4; i += 1) await ask();
  assert.equal((await admin().post(`/v1/api-keys/${id}/revoke`)).status, 200);
  await ask();
  assert.ok(answered.VALID && answered.RATE_LIMITED && answered.REVOKED, JSON.stringify(answered));
  const total = Object.values(answered).reduce((a, b) => a + b, 0);

  const page = await adminPage(t);
  await page.getByRole('link', { name: 'charted' }).click();
  await page.waitForURL(`${f.server.base}/dashboard/keys/${id}`);
  await page.getByRole('heading', { name: 'charted', level: 1 }).waitFor();
  // Counts are written behind (every 2 s): reload until they show.
  const labels = { VALID: 'Valid', RATE_LIMITED: 'Rate limited', INSUFFICIENT_SCOPE: 'Insufficient scope', REVOKED: 'Revoked' };
  const totals = page.getByRole('list', { name: 'Totals by outcome' });
  for (let attempt = 0; ; attempt += 1) {
    const text = (await totals.textContent()) ?? '';
    if (text.includes(`Revoked: ${answered.REVOKED}`)) break;
    assert.ok(attempt < 20, `the totals never showed the verifications: ${text}`);
    await page.waitForTimeout(500);
    await page.reload();
  }
  for (const [code, label] of Object.entries(labels)) {
    await totals.getByText(`${label}: ${answered[code] ?? 0}`, { exact: true }).waitFor();
  }
  for (const label of ['Usage exceeded', 'Expired', 'Disabled']) {
    await totals.getByText(`${label}: 0`, { exact: true }).waitFor();
  }
  const chart = page.getByRole('img', { name: /Verifications per day, last 30 days/ });
  const described = (await chart.getAttribute('aria-labelledby')) ?? '';
  assert.equal(described, 'usage-title usage-desc');
  const summary = await page.evaluate(() => document.getElementById('usage-desc')?.textContent ?? '');
  assert.match(summary, new RegExp(`^${total} verifications from \\d{4}-\\d\\d-\\d\\d to \\d{4}-\\d\\d-\\d\\d: ${answered.VALID} valid`));
  await page.getByText(`${total} verifications in the last 30 days`).waitFor();
  await page.getByRole('term').filter({ hasText: 'Rate limit per minute' }).waitFor();
  // What the key can do (POST /v1/keys/explain): refused now (revoked),
  // its one permission, the rest not granted, its window of 3 a minute
  // (spent by the verifications above), anywhere, no policy broken.
  const explained = page.getByRole('region', { name: 'What this key can do' });
  await explained.getByRole('definition').filter({ hasText: /^No: the key is revoked, so verify refuses it/ }).waitFor();
  await explained.getByRole('definition').filter({ hasText: /^\d+ permissions/ }).waitFor();
  await explained.getByRole('definition').filter({ hasText: /^Anywhere$/ }).waitFor();
  await explained.getByRole('definition').filter({ hasText: /^sandbox:read$/ }).waitFor();
  await explained.getByRole('definition').filter({ hasText: /^\d of 3 left now, full again in \d+ s$/ }).waitFor();
  await explained.getByRole('definition').filter({ hasText: /^Compliant$/ }).waitFor();
  await page.getByText('Revoked', { exact: true }).first().waitFor();
  await expectAccessible(page, 'keys: detail page');

  // Another organization's key is the 404 page.
  const other = await api(f.server.base).post('/v1/auth/signup', {
    email: 'gus@globex.example',
    password: 'another-long-password',
    displayName: 'gus',
    orgName: 'Globex',
  });
  assert.equal(other.status, 201, JSON.stringify(other.body));
  const theirs = await createKey({ name: 'theirs', scopes: ['sandbox:read'] }, api(f.server.base, other.body.data.token));
  const missing = await page.goto(`${f.server.base}/dashboard/keys/${theirs.id}`);
  assert.equal(missing?.status(), 404);
  await page.getByRole('alert').getByText('not_found').waitFor();
  assert.equal((await page.content()).includes('theirs'), false);
});

test("a member sees their own keys, may not act on another's, and a forged POST gets the API's refusal", async (t) => {
  const adminsKey = await createKey({ name: "the admin's key", scopes: ['sandbox:read'] });
  const bob = await addMember(f.server, 'Bob');
  // Bob's API session acts in his own organization: a key there is not listed here.
  await createKey({ name: "bob's key elsewhere", scopes: ['sandbox:read'] }, api(f.server.base, bob.token));
  const page = await harnessPage(t, f.browser);
  await signInAsMember(page, f.server, bob, ORG);

  // Scopes a member may not grant are disabled in the create dialog, with the API's reason.
  await page.getByRole('button', { name: 'Create key' }).click();
  const create = page.getByRole('dialog', { name: 'Create key' });
  for (const scope of ['*', 'org:write', 'org:*', 'admin:resources']) {
    assert.equal(await create.getByRole('checkbox', { name: scope, exact: true }).isDisabled(), true, scope);
  }
  await create.getByText('cannot grant scopes this credential does not hold: org:write').waitFor();
  await expectAccessible(page, 'keys: create dialog as a member');
  await create.getByLabel('Name', { exact: true }).fill("bob's key");
  await create.getByRole('checkbox', { name: 'sandbox:read', exact: true }).check();
  await create.getByRole('button', { name: 'Create', exact: true }).click();
  const shown = await shownKey(page, 'Key created');
  await shown.dialog.getByRole('button', { name: 'Close', exact: true }).click();
  await shown.dialog.getByRole('button', { name: 'Close anyway' }).click();
  const bobsId = (await admin().get(`/v1/api-keys?allOrg=true&search=${encodeURIComponent("bob's key")}`)).body.data[0].id;

  // Only his own key, with both actions.
  await page.goto(`${f.server.base}/dashboard/keys`);
  assert.deepEqual(await listedNames(page), ["bob's key"]);
  await rowOf(page, "bob's key").getByRole('button', { name: 'Revoke' }).waitFor();
  // Every member's keys: disabled, with the API's reason.
  const all = page.getByRole('checkbox', { name: "Every member's keys" });
  assert.equal(await all.isDisabled(), true);
  assert.equal(await describedBy(page, all), 'listing every key of the organization needs the admin role');
  // Asked for by hand, the whole organization's list is the API's 403.
  const refused = await page.goto(`${f.server.base}/dashboard/keys?all=true`);
  assert.equal(refused?.status(), 403);
  assert.match(await alertText(page), /listing every key of the organization needs the admin role.*forbidden/);

  // Once the organization lets members see every key, the admin's key is
  // listed, but neither linked nor offered: Rotate and Revoke are disabled with the reason.
  assert.equal((await admin().patch(`/v1/orgs/${f.server.orgId}`, { membersSeeAllKeys: true })).status, 200);
  t.after(() => admin().patch(`/v1/orgs/${f.server.orgId}`, { membersSeeAllKeys: false }));
  await page.goto(`${f.server.base}/dashboard/keys?search=key&all=true`);
  const row = rowOf(page, "the admin's key");
  await row.waitFor();
  assert.equal(await row.getByRole('link').count(), 0);
  for (const action of ['Rotate', 'Revoke']) {
    const button = row.getByRole('button', { name: action });
    assert.equal(await button.isDisabled(), true, action);
    assert.equal(await describedBy(page, button), "Only the key's owner or an admin can rotate or revoke it.");
  }
  await expectAccessible(page, "keys: a member's view of every key");

  // A forged revoke of the admin's key, with the member's valid CSRF token: the API's 404.
  const csrf = await csrfField(page);
  const forged = await forge(page, `/dashboard/keys/${adminsKey.id}/revoke`, { csrf, from: 'list' });
  assert.equal(forged.status, 404);
  assert.match(forged.html, /not_found/);
  const rotated = await forge(page, `/dashboard/keys/${adminsKey.id}/rotate`, { csrf, grace: 'now' });
  assert.equal(rotated.status, 404);
  // Without the CSRF token, or with a wrong one, even their own key's revoke is refused.
  const noToken = await forge(page, `/dashboard/keys/${bobsId}/revoke`, { from: 'list' });
  assert.equal(noToken.status, 403);
  assert.match(noToken.html, /csrf_failed/);
  const wrongToken = await forge(page, `/dashboard/keys/${bobsId}/revoke`, { csrf: 'x'.repeat(43) });
  assert.equal(wrongToken.status, 403);
  assert.equal(await verify(f.server.base, adminsKey.key, f.server.adminKey), 'VALID');
  assert.equal(await verify(f.server.base, shown.key, f.server.adminKey), 'VALID');
  // His own key's page, and the 404 page for the admin's.
  assert.equal((await page.goto(`${f.server.base}/dashboard/keys/${bobsId}`))?.status(), 200);
  assert.equal((await page.goto(`${f.server.base}/dashboard/keys/${adminsKey.id}`))?.status(), 404);
  assert.match(await alertText(page), /not_found/);
});
