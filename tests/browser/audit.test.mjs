// @ts-check
/**
 * Organization › Audit log: the team's actions made in the dashboard are
 * listed with who did them (a person by name and email, a key by name and
 * prefix), on what, and from where; the action filter is kept in the URL
 * and in the pages' links; cursor paging walks the whole trail; a member
 * is refused with the API's reason.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, expectAccessible, fixture, newPage, signIn } from './harness.mjs';
import { alertText, freshEmail, joined } from './members.mjs';

/** @typedef {import('playwright-core').Page} Page */
/** @typedef {import('playwright-core').Locator} Locator */

const f = fixture();

/** The admin's API client (their `*` key). */
const adminApi = () => api(f.server.base, f.server.adminKey);

/**
 * Every event of the trail with `action` (all if empty), newest first, by
 * paging the API.
 * @param {string} [action]
 * @returns {Promise<any[]>}
 */
async function trail(action = '') {
  const events = [];
  let cursor = '';
  for (;;) {
    const q = new URLSearchParams({ limit: '100', ...(action ? { action } : {}), ...(cursor ? { cursor } : {}) });
    const { status, body } = await adminApi().get(`/v1/audit-events?${q}`);
    assert.equal(status, 200);
    events.push(...body.data);
    if (!body.nextCursor) return events;
    cursor = body.nextCursor;
  }
}

/**
 * The body rows of the page's events table.
 * @param {Page} page
 * @returns {Locator}
 */
const rows = (page) => page.getByRole('table').getByRole('row').filter({ has: page.getByRole('cell') });

/**
 * The action of each row.
 * @param {Page} page
 */
async function actionsOf(page) {
  return rows(page).getByRole('link').allTextContents();
}

/**
 * Clicks `target` and waits for the page it leads to.
 * @param {Page} page
 * @param {Locator} target
 */
async function follow(page, target) {
  await Promise.all([page.waitForNavigation(), target.click()]);
}

/** @param {import('node:test').TestContext} t */
async function adminPage(t) {
  const page = await newPage(t, f.browser);
  await signIn(page, f.server.base, f.server.adminEmail, f.server.adminPassword);
  return page;
}

test('the team\'s actions are listed by name, and the action filter stays in the URL', async (t) => {
  const { base } = f.server;
  const page = await adminPage(t);

  // Actions made in the dashboard: an invitation made and revoked, a
  // member who joined by invitation promoted, the settings saved.
  await page.goto(`${base}/dashboard/team`);
  await page.getByRole('button', { name: 'Invite member' }).click();
  const invited = freshEmail('ivy');
  const dialog = page.getByRole('dialog', { name: 'Invite member' });
  await dialog.getByLabel('Email').fill(invited);
  await follow(page, dialog.getByRole('button', { name: 'Send invitation' }));
  const link = (await page.getByText(/\/dashboard\/join#lki_/).textContent()) ?? '';
  f.server.secret(link.slice(link.indexOf('#') + 1).trim());
  await page.goto(`${base}/dashboard/team`);
  await follow(page, page.getByRole('row', { name: new RegExp(invited) }).getByRole('button', { name: 'Revoke' }));
  const member = await joined(f.server, 'uma');
  const row = page.getByRole('row', { name: new RegExp(member.email) });
  await page.goto(`${base}/dashboard/team`);
  await row.getByRole('combobox').selectOption('admin');
  await follow(page, row.getByRole('button', { name: 'Change role' }));
  await page.goto(`${base}/dashboard/settings`);
  await follow(page, page.getByRole('button', { name: 'Save' }));
  // And a key made with the admin's key.
  const made = await adminApi().post('/v1/api-keys', { name: 'Audited key', scopes: ['devboxes:read'] });
  assert.equal(made.status, 201);
  f.server.secret(made.body.data.key);

  await page.goto(`${base}/dashboard/audit`);
  await expectAccessible(page, 'audit');
  const listed = await actionsOf(page);
  for (const action of ['invitation.create', 'invitation.delete', 'user.signup', 'invitation.accept', 'member.update', 'org.update', 'api_key.create']) {
    assert.ok(listed.includes(action), `${action} is listed: ${listed.join(', ')}`);
  }
  assert.deepEqual(listed, (await trail()).slice(0, listed.length).map((e) => e.action), 'newest first, as the API');

  // Who: a person by name and email, a key by name and prefix; on what; from where.
  const adminName = (await adminApi().get('/v1/me')).body.data.user.displayName;
  const promoted = rows(page).filter({ has: page.getByRole('link', { name: 'member.update', exact: true }) });
  const promotedText = (await promoted.first().textContent()) ?? '';
  assert.ok(promotedText.includes(`${adminName} (${f.server.adminEmail})`), promotedText);
  assert.ok(promotedText.includes(`member ${member.name} (${member.email})`), promotedText);
  assert.ok(promotedText.includes('role: admin'), promotedText);
  assert.ok(promotedText.includes('127.0.0.1'), promotedText);
  const keyId = (await adminApi().get('/v1/me')).body.data.keyId;
  const adminKey = (await adminApi().get(`/v1/api-keys/${keyId}`)).body.data;
  const keyRow = rows(page).filter({ has: page.getByRole('link', { name: 'api_key.create', exact: true }) }).first();
  const keyText = (await keyRow.textContent()) ?? '';
  assert.ok(keyText.includes(`key ${adminKey.name} (${adminKey.keyPrefix}…)`), keyText);
  assert.ok(keyText.includes('key Audited key ('), keyText);

  // Filtering by action: the form, then the URL, then the rows.
  await page.getByLabel('Action').fill('member.update');
  await follow(page, page.getByRole('button', { name: 'Filter' }));
  assert.equal(new URL(page.url()).searchParams.get('action'), 'member.update');
  const filtered = await actionsOf(page);
  assert.deepEqual(filtered, (await trail('member.update')).map(() => 'member.update'));
  assert.ok(filtered.length >= 1);
  assert.equal(await page.getByLabel('Action').inputValue(), 'member.update');
  await expectAccessible(page, 'audit, filtered');
  // Every action links to its filter.
  await follow(page, page.getByRole('link', { name: 'Every action' }));
  await follow(page, rows(page).getByRole('link', { name: 'invitation.accept', exact: true }).first());
  assert.equal(new URL(page.url()).searchParams.get('action'), 'invitation.accept');
  assert.deepEqual(await actionsOf(page), ['invitation.accept']);

  // An action nobody did: the empty state with the CLI line.
  await page.goto(`${base}/dashboard/audit?action=no.such.action`);
  await page.getByText('latchkey audit --action no.such.action').waitFor();
  assert.equal(await rows(page).count(), 0);
});

test('cursor paging walks the whole trail, filtered or not', async (t) => {
  const { base } = f.server;
  // 55 invitations made and revoked: 110 events more.
  for (let i = 0; i < 55; i += 1) {
    const { status, body } = await adminApi().post('/v1/invitations', { email: freshEmail('page'), role: 'member' });
    assert.equal(status, 201);
    f.server.secret(body.data.token);
    assert.equal((await adminApi().delete(`/v1/invitations/${body.data.id}`)).status, 204);
  }
  const page = await adminPage(t);
  for (const action of ['', 'invitation.create']) {
    const expected = (await trail(action)).map((e) => e.action);
    assert.ok(expected.length > 50, `${expected.length} events`);
    await page.goto(`${base}/dashboard/audit${action ? `?action=${action}` : ''}`);
    const seen = [];
    let pages = 0;
    for (;;) {
      pages += 1;
      const here = await actionsOf(page);
      assert.ok(here.length <= 50);
      seen.push(...here);
      const older = page.getByRole('link', { name: 'Older events' });
      if ((await older.count()) === 0) break;
      // The filter travels with the cursor.
      assert.equal(new URL((await older.getAttribute('href')) ?? '', base).searchParams.get('action'), action || null);
      await follow(page, older);
    }
    assert.deepEqual(seen, expected, `the pages, in order, are the trail${action ? ` of ${action}` : ''}`);
    assert.ok(pages >= 2);
    await follow(page, page.getByRole('link', { name: 'Newest events' }));
    assert.equal(new URL(page.url()).searchParams.get('cursor'), null);
    assert.equal(new URL(page.url()).searchParams.get('action'), action || null);
  }
});

test('a member is refused the audit log with the API\'s reason', async (t) => {
  const member = await joined(f.server, 'nia');
  const page = await newPage(t, f.browser);
  await signIn(page, f.server.base, member.email, member.password);
  const res = await page.goto(`${f.server.base}/dashboard/audit`);
  assert.equal(res?.status(), 403);
  const text = await alertText(page);
  assert.match(text, /this action needs the admin role/);
  assert.match(text, /forbidden/);
  // The navigation is still there: the page is the dashboard's, not a dead end.
  await page.getByRole('link', { name: 'Team', exact: true }).waitFor();
  await expectAccessible(page, 'audit, member');
});
