// @ts-check
/**
 * Organization › Settings: an admin renames the organization and lets
 * members see all keys (and a member then may list them); a refused change
 * shows the API's error with what was typed; a member sees the form
 * disabled with the API's reason and a forged POST is refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, csrfField, expectAccessible, fixture, newPage, signIn } from './harness.mjs';
import { alertText, forge, joined } from './members.mjs';

/** @typedef {import('playwright-core').Page} Page */

const f = fixture();

/** The organization as the API shows it. */
async function org() {
  const { status, body } = await api(f.server.base, f.server.adminKey).get(`/v1/orgs/${f.server.orgId}`);
  assert.equal(status, 200);
  return body.data;
}

/**
 * Clicks `Save` and waits for the POST's answer and the page it leads to.
 * @param {Page} page
 */
async function save(page) {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/dashboard/settings'),
    page.getByRole('button', { name: 'Save' }).click(),
  ]);
  await page.waitForLoadState();
  return res;
}

test('an admin renames the organization and lets members see all keys', async (t) => {
  const { base } = f.server;
  const member = await joined(f.server, 'sam');
  const key = await api(base, f.server.adminKey).post('/v1/api-keys', { name: 'Shared gateway key', scopes: ['devboxes:read'] });
  assert.equal(key.status, 201);
  f.server.secret(key.body.data.key);
  // Not yet: a member asking for every key is refused.
  const everyKey = () => api(base, member.token).get('/v1/api-keys?allOrg=true');
  assert.equal((await everyKey()).status, 403);

  const page = await newPage(t, f.browser);
  await signIn(page, base, f.server.adminEmail, f.server.adminPassword);
  await page.goto(`${base}/dashboard/settings`);
  const name = page.getByLabel('Organization name');
  const seeAll = page.getByRole('checkbox', { name: 'Members see all keys' });
  assert.equal(await name.inputValue(), 'Browser Tests');
  assert.equal(await seeAll.isChecked(), false);
  await expectAccessible(page, 'settings');

  await name.fill('Browser Tests Renamed');
  await seeAll.check();
  const res = await save(page);
  assert.equal(res.status(), 303);
  await page.getByRole('status').filter({ hasText: 'Settings saved.' }).waitFor();
  assert.equal(await name.inputValue(), 'Browser Tests Renamed');
  assert.equal(await seeAll.isChecked(), true);
  // The header and the title carry the new name.
  assert.match(await page.title(), /Browser Tests Renamed/);
  const now = await org();
  assert.equal(now.name, 'Browser Tests Renamed');
  assert.equal(now.membersSeeAllKeys, true);

  // Now the member lists every key.
  const all = await everyKey();
  assert.equal(all.status, 200);
  assert.ok(all.body.data.some((/** @type {any} */ k) => k.name === 'Shared gateway key'));

  // A name the API refuses: its error, and the form as typed.
  await name.fill('   ');
  await seeAll.uncheck();
  const bad = await save(page);
  assert.equal(bad.status(), 400);
  assert.match(await alertText(page), /invalid_request/);
  assert.equal(await seeAll.isChecked(), false, 'what was typed is kept');
  await expectAccessible(page, 'settings, refused');
  assert.equal((await org()).name, 'Browser Tests Renamed', 'nothing changed');

  // Back as it was, for the other tests.
  await name.fill('Browser Tests');
  await seeAll.uncheck();
  assert.equal((await save(page)).status(), 303);
  assert.equal((await org()).membersSeeAllKeys, false);
});

test('a member sees the settings disabled with the reason, and a forged POST is refused', async (t) => {
  const { base } = f.server;
  const member = await joined(f.server, 'mel');
  const page = await newPage(t, f.browser);
  await signIn(page, f.server.base, member.email, member.password);
  await page.goto(`${base}/dashboard/settings`);
  for (const control of [
    page.getByLabel('Organization name'),
    page.getByRole('checkbox', { name: 'Members see all keys' }),
    page.getByRole('button', { name: 'Save' }),
  ]) {
    assert.equal(await control.isDisabled(), true);
    const id = await control.getAttribute('aria-describedby');
    assert.ok(id);
    assert.match((await page.locator(`[id="${id}"]`).textContent()) ?? '', /changing the organization needs the admin role/);
  }
  await expectAccessible(page, 'settings, member');

  const res = await forge(page, '/dashboard/settings', {
    csrf: await csrfField(page),
    name: 'Taken over',
    membersSeeAllKeys: 'true',
  });
  assert.equal(res.status, 403);
  assert.match(res.html, /forbidden/);
  assert.match(res.html, /changing the organization needs the admin role/);
  const after = await org();
  assert.equal(after.name, 'Browser Tests');
  assert.equal(after.membersSeeAllKeys, false);
  // Without the token: csrf_failed.
  const forged = await forge(page, '/dashboard/settings', { name: 'Taken over' });
  assert.equal(forged.status, 403);
  assert.match(forged.html, /csrf_failed/);
});
