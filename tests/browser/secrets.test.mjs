// @ts-check
/**
 * Credentials › Secrets: adding personal and organization-wide secrets
 * through the dialog; revealing one after a confirmation, the value shown
 * once and the reveal in the audit trail; deleting with a confirmation; a
 * member's view (organization secrets revealed, not set or deleted) and
 * their forged POSTs refused; another organization's secret is the 404
 * page; a POST without the CSRF token changes nothing; axe on the page and
 * its dialogs; and no value in any page's HTML but the reveal's answer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { api, csrfField, expectAccessible, fixture, newPage, signIn } from './harness.mjs';
import { addMember, auditLogActions, forge, recordDocuments, signInAsMember } from './members.mjs';

/** @typedef {import('node:test').TestContext} TestContext */
/** @typedef {import('playwright-core').Page} Page */

const ORG = 'Secret Tests';
const f = fixture({ org: ORG });

/** The admin's JSON API. */
const admin = () => api(f.server.base, f.server.adminKey);

/**
 * A value no page may show but the reveal's answer (and that the server's
 * log must not hold).
 * @param {string} label
 */
function value(label) {
  const v = `${label}-${randomBytes(18).toString('base64url')}`;
  f.server.secret(v);
  return v;
}

/**
 * A page whose clipboard the test may read, signed in as the admin, on the
 * secrets page.
 * @param {TestContext} t
 */
async function adminOnSecrets(t) {
  const page = await newPage(t, f.browser, { permissions: ['clipboard-read', 'clipboard-write'] });
  await signIn(page, f.server.base, f.server.adminEmail, f.server.adminPassword);
  await page.getByRole('link', { name: 'Secrets', exact: true }).click();
  await page.waitForURL(`${f.server.base}/dashboard/secrets`);
  return page;
}

/**
 * The table row of the secret `name` with scope `scope` (`Personal`,
 * `Organization`).
 * @param {Page} page
 * @param {string} name
 * @param {string} [scope]
 */
function row(page, name, scope) {
  let r = page.getByRole('row').filter({ has: page.getByRole('cell', { name, exact: true }) });
  if (scope) r = r.filter({ has: page.getByRole('cell', { name: scope, exact: true }) });
  return r;
}

/**
 * Fills and sends the add dialog.
 * @param {Page} page
 * @param {{ name: string, value: string, category?: string, orgWide?: boolean }} s
 */
async function addSecret(page, s) {
  await page.getByRole('button', { name: 'Add secret', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Add secret' });
  await dialog.getByLabel('Name', { exact: true }).fill(s.name);
  await dialog.getByLabel('Value', { exact: true }).fill(s.value);
  if (s.category) await dialog.getByLabel('Category', { exact: true }).fill(s.category);
  await dialog.getByLabel(s.orgWide ? 'Organization-wide (every member)' : 'Personal (only you)').check();
  await dialog.getByRole('button', { name: 'Save', exact: true }).click();
}

/**
 * Asks to reveal the secret of the row, confirms, and resolves with the
 * POST's answer (the page then shows it).
 * @param {Page} page
 * @param {string} name
 * @param {string} [scope]
 */
async function reveal(page, name, scope) {
  await row(page, name, scope).getByRole('button', { name: 'Reveal', exact: true }).click();
  const confirm = page.getByRole('dialog', { name: `Reveal ${name}?` });
  await confirm.waitFor();
  const posted = page.waitForResponse((r) => r.request().method() === 'POST');
  await confirm.getByRole('button', { name: 'Reveal', exact: true }).click();
  const res = await posted;
  await page.waitForLoadState();
  return res;
}

/**
 * The audit events of the organization, newest first, through the admin's
 * key.
 * @returns {Promise<any[]>}
 */
async function audit() {
  const { status, body } = await admin().get('/v1/audit-events?limit=100');
  assert.equal(status, 200);
  return body.data;
}

test('an admin adds personal and organization secrets; the list shows names, never values', async (t) => {
  const page = await adminOnSecrets(t);
  const documents = await recordDocuments(page);
  await page.getByText('No secrets yet.').waitFor();
  assert.match((await page.locator('main').textContent()) ?? '', /latchkey secret set ANTHROPIC_API_KEY --value-stdin/);
  await expectAccessible(page, '/dashboard/secrets (empty)');

  await page.getByRole('button', { name: 'Add secret', exact: true }).click();
  await page.getByRole('dialog', { name: 'Add secret' }).waitFor();
  await expectAccessible(page, '/dashboard/secrets (add dialog)');
  await page.getByRole('button', { name: 'Cancel', exact: true }).click();

  const personal = value('personal');
  const shared = value('shared');
  await addSecret(page, { name: 'OPENAI_API_KEY', value: personal, category: 'provider' });
  await page.waitForURL(/\?done=created$/);
  assert.equal(await page.getByRole('status').first().textContent(), 'Secret added.');
  await addSecret(page, { name: 'DEPLOY_TOKEN', value: shared, category: 'tool', orgWide: true });
  await page.waitForURL(/\?done=created$/);
  const replaced = value('replaced');
  await addSecret(page, { name: 'OPENAI_API_KEY', value: replaced, category: 'provider' });
  await page.waitForURL(/\?done=replaced$/);

  const mine = row(page, 'OPENAI_API_KEY', 'Personal');
  await mine.waitFor();
  assert.deepEqual(
    (await mine.getByRole('cell').allTextContents()).slice(0, 4).map((c) => c.trim()),
    ['OPENAI_API_KEY', 'provider', 'Personal', '2'],
  );
  await row(page, 'DEPLOY_TOKEN', 'Organization').waitFor();
  await expectAccessible(page, '/dashboard/secrets (two secrets)');

  const { body } = await admin().get('/v1/secrets');
  const scopes = Object.fromEntries(body.data.map((/** @type {any} */ s) => [s.name, s.scope]));
  assert.deepEqual(scopes, { OPENAI_API_KEY: 'user', DEPLOY_TOKEN: 'org' });
  const html = (await documents()).map((d) => d.html).join('\n');
  assert.ok(html.includes('OPENAI_API_KEY'), 'the recorded pages are the list');
  for (const v of [personal, shared, replaced]) assert.ok(!html.includes(v), 'no value in a listing');
});

test('revealing asks first, shows the value once with a Copy button, and is audited', async (t) => {
  const secretValue = value('reveal');
  assert.equal((await admin().put('/v1/secrets/STRIPE_KEY', { value: secretValue, category: 'provider', orgWide: true })).status, 201);
  const page = await adminOnSecrets(t);
  const documents = await recordDocuments(page);
  const secretId = (await admin().get('/v1/secrets/STRIPE_KEY')).body.data.id;

  // Asking, then going back, reveals nothing.
  await row(page, 'STRIPE_KEY').getByRole('button', { name: 'Reveal', exact: true }).click();
  const confirm = page.getByRole('dialog', { name: 'Reveal STRIPE_KEY?' });
  await confirm.waitFor();
  await expectAccessible(page, '/dashboard/secrets (reveal confirmation)');
  await confirm.getByRole('button', { name: 'Cancel', exact: true }).click();
  assert.ok(!(await audit()).some((e) => e.action === 'secret.reveal' && e.target?.id === secretId));

  const res = await reveal(page, 'STRIPE_KEY');
  assert.equal(res.status(), 200);
  assert.equal(res.headers()['cache-control'], 'no-store');
  const shown = page.getByRole('dialog', { name: 'STRIPE_KEY' });
  await shown.waitFor();
  assert.equal((await shown.locator('pre').textContent())?.trim(), secretValue);
  await expectAccessible(page, '/dashboard/secrets (value shown)');
  await shown.getByRole('button', { name: 'Copy', exact: true }).click();
  await assert.doesNotReject(shown.getByText('Copied to the clipboard.').waitFor());
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secretValue);
  await shown.getByRole('button', { name: 'Close', exact: true }).click();
  await shown.waitFor({ state: 'hidden' });

  // The audit trail has the reveal, by the admin, without the value.
  const events = await audit();
  const revealed = events.filter((e) => e.action === 'secret.reveal' && e.target?.id === secretId);
  assert.equal(revealed.length, 1);
  assert.equal(revealed[0].actor.type, 'user');
  assert.equal(revealed[0].actor.id, f.server.adminUserId);
  assert.equal(revealed[0].details.name, 'STRIPE_KEY');
  assert.ok(!JSON.stringify(events).includes(secretValue), 'the audit trail never holds a value');

  // Only the reveal's answer held the value; the list shown again does not.
  await page.goto(`${f.server.base}/dashboard/secrets`);
  const seen = await documents();
  const holding = seen.filter((d) => d.html.includes(secretValue));
  assert.deepEqual(
    holding.map((d) => `${d.method} ${new URL(d.url).pathname}`),
    ['POST /dashboard/secrets/STRIPE_KEY/reveal'],
  );
  assert.deepEqual(
    seen.map((d) => `${d.method} ${new URL(d.url).pathname}`),
    ['POST /dashboard/secrets/STRIPE_KEY/reveal', 'GET /dashboard/secrets'],
    'the reveal and the list shown again were recorded',
  );
  // The reveal is in the dashboard's Audit log.
  assert.deepEqual(await auditLogActions(page, f.server.base, 'secret.reveal'), ['secret.reveal']);
});

test("no dashboard page holds a secret's value, after setting, revealing and deleting", async (t) => {
  const kept = value('kept');
  const gone = value('gone');
  assert.equal((await admin().put('/v1/secrets/KEPT_TOKEN', { value: kept, category: 'tool', orgWide: true })).status, 201);
  assert.equal((await admin().put('/v1/secrets/GONE_TOKEN', { value: gone, category: 'tool' })).status, 201);
  const page = await adminOnSecrets(t);
  const documents = await recordDocuments(page);
  assert.equal((await reveal(page, 'KEPT_TOKEN')).status(), 200);
  await page.goto(`${f.server.base}/dashboard/secrets`);
  await row(page, 'GONE_TOKEN').getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('dialog', { name: 'Delete GONE_TOKEN?' }).getByRole('button', { name: 'Delete', exact: true }).click();
  await page.waitForURL(/\?done=deleted$/);
  // Every page of the navigation (the audit log among them, with the reveal and the deletion).
  const links = await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link').evaluateAll((as) =>
    as.map((a) => /** @type {HTMLAnchorElement} */ (a).pathname),
  );
  assert.ok(links.includes('/dashboard/secrets') && links.length >= 5, links.join(' '));
  for (const path of links) await page.goto(`${f.server.base}${path}`);
  const seen = await documents();
  assert.ok(seen.length >= links.length + 2);
  for (const d of seen) {
    const where = `${d.method} ${new URL(d.url).pathname}`;
    assert.ok(!d.html.includes(gone), `${where} holds a value`);
    assert.equal(d.html.includes(kept), where === 'POST /dashboard/secrets/KEPT_TOKEN/reveal', `${where} and the value`);
  }
});

test('without JavaScript, the confirmation and the revealed value are still shown', async (t) => {
  const v = value('no-script');
  assert.equal((await admin().put('/v1/secrets/PLAIN_FORMS', { value: v, category: 'tool', orgWide: true })).status, 201);
  const page = await newPage(t, f.browser, { javaScriptEnabled: false });
  await signIn(page, f.server.base, f.server.adminEmail, f.server.adminPassword);
  await page.goto(`${f.server.base}/dashboard/secrets`);
  assert.equal(await page.getByRole('dialog').count(), 0, 'no dialog shows before it is asked for');
  // The Reveal link leads to its dialog (#reveal-…), which the stylesheet shows.
  await row(page, 'PLAIN_FORMS').getByRole('button', { name: 'Reveal', exact: true }).click();
  const confirm = page.getByRole('dialog', { name: 'Reveal PLAIN_FORMS?' });
  await confirm.waitFor();
  await confirm.getByRole('button', { name: 'Reveal', exact: true }).click();
  const shown = page.getByRole('dialog', { name: 'PLAIN_FORMS' });
  await shown.waitFor();
  assert.equal((await shown.locator('pre').textContent())?.trim(), v);
  // (axe runs as a script in the page: the same dialog is checked in the test with script.)
});

test('a refused secret re-opens the dialog with the name typed, never the value', async (t) => {
  const page = await adminOnSecrets(t);
  const documents = await recordDocuments(page);
  const typed = value('refused');
  const posted = page.waitForResponse((r) => r.request().method() === 'POST');
  await addSecret(page, { name: 'lower-case', value: typed, category: 'provider' });
  assert.equal((await posted).status(), 400);
  await page.waitForLoadState();
  const dialog = page.getByRole('dialog', { name: 'Add secret' });
  await dialog.waitFor();
  assert.match((await dialog.getByRole('alert').textContent()) ?? '', /secret names are 1–128 characters of A-Z, 0-9 and _/);
  assert.equal(await dialog.getByLabel('Name', { exact: true }).inputValue(), 'lower-case');
  assert.equal(await dialog.getByLabel('Category', { exact: true }).inputValue(), 'provider');
  assert.equal(await dialog.getByLabel('Value', { exact: true }).inputValue(), '');
  await expectAccessible(page, '/dashboard/secrets (refused add)');
  for (const d of await documents()) assert.ok(!d.html.includes(typed), `${d.method} ${d.url} holds the typed value`);
});

test('deleting asks first', async (t) => {
  assert.equal((await admin().put('/v1/secrets/OLD_TOKEN', { value: value('old'), category: 'tool' })).status, 201);
  const page = await adminOnSecrets(t);
  await row(page, 'OLD_TOKEN').getByRole('button', { name: 'Delete', exact: true }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete OLD_TOKEN?' });
  await confirm.waitFor();
  await expectAccessible(page, '/dashboard/secrets (delete confirmation)');
  await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.waitForURL(/\?done=deleted$/);
  assert.equal(await page.getByRole('status').first().textContent(), 'Secret deleted.');
  assert.equal((await admin().get('/v1/secrets/OLD_TOKEN')).status, 404);
});

test("a member reveals the organization's secrets but may not set or delete them", async (t) => {
  const orgValue = value('org');
  const adminOwn = value('admin-own');
  assert.equal((await admin().put('/v1/secrets/TEAM_TOKEN', { value: orgValue, category: 'tool', orgWide: true })).status, 201);
  assert.equal((await admin().put('/v1/secrets/ADMIN_ONLY', { value: adminOwn, category: 'tool' })).status, 201);
  const member = await addMember(f.server, 'Mia Member');
  const page = await newPage(t, f.browser);
  const documents = await recordDocuments(page);
  await signInAsMember(page, f.server, member, ORG);
  await page.goto(`${f.server.base}/dashboard/secrets`);

  const team = row(page, 'TEAM_TOKEN', 'Organization');
  await team.waitFor();
  assert.equal(await row(page, 'ADMIN_ONLY').count(), 0, "another member's personal secret is not listed");
  const del = team.getByRole('button', { name: 'Delete', exact: true });
  assert.ok(await del.isDisabled());
  const why = await page.locator(`#${await del.getAttribute('aria-describedby')}`).textContent();
  assert.equal(why, 'organization-wide secrets need the admin role');
  await page.getByRole('button', { name: 'Add secret', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Add secret' });
  const orgWide = dialog.getByLabel('Organization-wide (every member)');
  assert.ok(await orgWide.isDisabled());
  assert.equal(
    await dialog.locator(`#${await orgWide.getAttribute('aria-describedby')}`).textContent(),
    'organization-wide secrets need the admin role',
  );
  await expectAccessible(page, '/dashboard/secrets (member, add dialog)');
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();

  // A personal secret of their own, then a reveal of the organization's.
  const own = value('member-own');
  await addSecret(page, { name: 'MY_TOKEN', value: own, category: 'tool' });
  await page.waitForURL(/\?done=created$/);
  await row(page, 'MY_TOKEN', 'Personal').waitFor();
  await expectAccessible(page, '/dashboard/secrets (member)');
  assert.equal((await reveal(page, 'TEAM_TOKEN')).status(), 200);
  assert.equal((await page.getByRole('dialog', { name: 'TEAM_TOKEN' }).locator('pre').textContent())?.trim(), orgValue);

  // Forged with their own valid CSRF token: refused by the API, nothing changed.
  await page.goto(`${f.server.base}/dashboard/secrets`);
  const csrf = await csrfField(page);
  const deleted = await forge(page, '/dashboard/secrets/TEAM_TOKEN/delete', { csrf, scope: 'org' });
  assert.equal(deleted.status, 403);
  assert.match(deleted.html, /organization-wide secrets need the admin role/);
  const set = await forge(page, '/dashboard/secrets', {
    csrf,
    name: 'TEAM_TOKEN',
    value: value('forged'),
    category: 'tool',
    scope: 'org',
  });
  assert.equal(set.status, 403);
  assert.match(set.html, /organization-wide secrets need the admin role/);
  const still = await admin().post('/v1/secrets/TEAM_TOKEN/reveal?scope=org');
  assert.equal(still.body.data.value, orgValue);
  assert.equal(still.body.data.version, 1);
  // The admin's personal secret is no one else's: 404, not its value.
  const theirs = await forge(page, '/dashboard/secrets/ADMIN_ONLY/reveal', { csrf, scope: 'user' });
  assert.equal(theirs.status, 404);
  assert.ok(!theirs.html.includes(adminOwn));

  const seen = await documents();
  for (const d of seen) {
    assert.ok(!d.html.includes(adminOwn), `${d.method} ${d.url}`);
    assert.ok(!d.html.includes(own), `${d.method} ${d.url}`);
    assert.equal(d.html.includes(orgValue), d.method === 'POST' && d.url.endsWith('/TEAM_TOKEN/reveal'), `${d.method} ${d.url}`);
  }
});

test("another organization's secret is the 404 page, and its value stays there", async (t) => {
  const other = await addMember(f.server, 'Olga Other');
  const foreign = value('foreign');
  const put = await api(f.server.base, other.token).put('/v1/secrets/FOREIGN_ONLY', {
    value: foreign,
    category: 'tool',
    orgWide: true,
  });
  assert.equal(put.status, 201);
  const page = await adminOnSecrets(t);
  const csrf = await csrfField(page);
  for (const action of ['reveal', 'delete']) {
    const res = await forge(page, `/dashboard/secrets/FOREIGN_ONLY/${action}`, { csrf, scope: 'org' });
    assert.equal(res.status, 404, action);
    assert.match(res.html, /<code>not_found<\/code>/);
    assert.ok(!res.html.includes(foreign));
  }
  const theirs = await api(f.server.base, other.token).post('/v1/secrets/FOREIGN_ONLY/reveal?scope=org');
  assert.equal(theirs.body.data.value, foreign, 'still there, unchanged');
});

test('a POST without the CSRF token is refused: no value shown, nothing set, nothing audited', async (t) => {
  const v = value('guarded');
  assert.equal((await admin().put('/v1/secrets/GUARDED', { value: v, category: 'tool', orgWide: true })).status, 201);
  const page = await adminOnSecrets(t);
  const before = (await audit()).length;
  const revealed = await forge(page, '/dashboard/secrets/GUARDED/reveal', { scope: 'org' });
  assert.equal(revealed.status, 403);
  assert.match(revealed.html, /csrf_failed/);
  assert.ok(!revealed.html.includes(v));
  const set = await forge(page, '/dashboard/secrets', { name: 'NO_TOKEN', value: value('no-token'), category: 'tool' });
  assert.equal(set.status, 403);
  const deleted = await forge(page, '/dashboard/secrets/GUARDED/delete', { scope: 'org', csrf: 'wrong' });
  assert.equal(deleted.status, 403);
  assert.equal((await audit()).length, before, 'nothing was revealed or changed');
  assert.equal((await admin().get('/v1/secrets/NO_TOKEN')).status, 404);
  assert.equal((await admin().get('/v1/secrets/GUARDED')).status, 200);
});
