// @ts-check
/**
 * Credentials › SSH keys: adding keys made by `ssh-keygen` from pasted
 * text, setting the default, removing one with a confirmation; refusals
 * shown in the dialog; a member's view (organization-wide keys and every
 * member's keys are the admins') and their forged POSTs refused; another
 * organization's key is the 404 page; a POST without the CSRF token changes
 * nothing; axe on the page and its dialogs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { api, csrfField, expectAccessible, fixture, newPage, signIn } from './harness.mjs';
import { addMember, alertText, auditLogActions, forge, signInAsMember } from './members.mjs';

/** @typedef {import('node:test').TestContext} TestContext */
/** @typedef {import('playwright-core').Page} Page */

const ORG = 'SSH Tests';
const f = fixture({ org: ORG });
const run = promisify(execFile);

/** @type {string} */
let dir;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-ssh-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let serial = 0;

/**
 * A fresh ed25519 key pair from `ssh-keygen`: its public line and the
 * fingerprint `ssh-keygen -l` prints.
 * @param {string} comment
 * @returns {Promise<{ line: string, fingerprint: string }>}
 */
async function keygen(comment) {
  const file = path.join(dir, `key${serial++}`);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  const line = (await readFile(`${file}.pub`, 'utf8')).trim();
  const { stdout } = await run('ssh-keygen', ['-l', '-f', `${file}.pub`]);
  const fingerprint = stdout.split(/\s+/)[1];
  assert.match(fingerprint, /^SHA256:/);
  return { line, fingerprint };
}

/** The admin's JSON API. */
const admin = () => api(f.server.base, f.server.adminKey);

/**
 * The admin, signed in, on the SSH keys page.
 * @param {TestContext} t
 */
async function adminOnKeys(t) {
  const page = await newPage(t, f.browser);
  await signIn(page, f.server.base, f.server.adminEmail, f.server.adminPassword);
  await page.getByRole('link', { name: 'SSH keys', exact: true }).click();
  await page.waitForURL(`${f.server.base}/dashboard/ssh-keys`);
  return page;
}

/**
 * The row of the key named `name`.
 * @param {Page} page
 * @param {string} name
 */
const row = (page, name) => page.getByRole('row').filter({ has: page.getByRole('cell', { name, exact: true }) });

/**
 * Fills and sends the add dialog.
 * @param {Page} page
 * @param {string} name
 * @param {string} publicKey
 * @param {boolean} [orgWide]
 */
async function addKey(page, name, publicKey, orgWide = false) {
  await page.getByRole('button', { name: 'Add SSH key', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Add SSH key' });
  await dialog.getByLabel('Name', { exact: true }).fill(name);
  await dialog.getByLabel('Public key', { exact: true }).fill(publicKey);
  if (orgWide) await dialog.getByLabel('Organization-wide (accepted for every member)').check();
  await dialog.getByRole('button', { name: 'Add', exact: true }).click();
}

/**
 * The keys `token` sees (the admin's key by default), by name.
 * @param {string} [token]
 * @param {string} [query]
 * @returns {Promise<Map<string, any>>}
 */
async function keys(token = f.server.adminKey, query = '') {
  const { status, body } = await api(f.server.base, token).get(`/v1/ssh-keys${query}`);
  assert.equal(status, 200);
  return new Map(body.data.map((/** @type {any} */ k) => [k.name, k]));
}

test('an admin adds SSH keys from pasted text, sets the default and removes one', async (t) => {
  const laptop = await keygen('ada@laptop');
  const desktop = await keygen('ada@desktop');
  const page = await adminOnKeys(t);
  await page.getByText('No SSH keys yet.').waitFor();
  assert.match((await page.locator('main').textContent()) ?? '', /latchkey ssh-key add --file ~\/\.ssh\/id_ed25519\.pub laptop/);
  await expectAccessible(page, '/dashboard/ssh-keys (empty)');
  await page.getByRole('button', { name: 'Add SSH key', exact: true }).click();
  await page.getByRole('dialog', { name: 'Add SSH key' }).waitFor();
  await expectAccessible(page, '/dashboard/ssh-keys (add dialog)');
  await page.getByRole('button', { name: 'Cancel', exact: true }).click();

  await addKey(page, 'laptop', laptop.line);
  await page.waitForURL(/\?done=added$/);
  assert.equal(await page.getByRole('status').textContent(), 'SSH key added.');
  const first = row(page, 'laptop');
  const cells = (await first.getByRole('cell').allTextContents()).map((c) => c.replace(/\s+/g, ' ').trim());
  assert.deepEqual(cells.slice(0, 6), ['laptop', laptop.fingerprint, 'ssh-ed25519 256 bits', 'ada@laptop', 'You', 'Default']);
  assert.equal(await first.getByRole('button', { name: 'Set default' }).count(), 0, 'the default needs no Set default');

  await addKey(page, 'desktop', desktop.line);
  await page.waitForURL(/\?done=added$/);
  assert.equal((await keys()).get('desktop').isDefault, false, "a member's first key alone becomes the default");
  await expectAccessible(page, '/dashboard/ssh-keys (two keys)');
  await row(page, 'desktop').getByRole('button', { name: 'Set default', exact: true }).click();
  await page.waitForURL(/\?done=default$/);
  assert.equal(await page.getByRole('status').textContent(), 'Default SSH key set.');
  const now = await keys();
  assert.equal(now.get('desktop').isDefault, true);
  assert.equal(now.get('laptop').isDefault, false);
  await row(page, 'laptop').getByRole('button', { name: 'Set default', exact: true }).waitFor();

  await row(page, 'laptop').getByRole('button', { name: 'Remove', exact: true }).click();
  const confirm = page.getByRole('dialog', { name: 'Remove laptop?' });
  await confirm.waitFor();
  assert.match((await confirm.textContent()) ?? '', new RegExp(laptop.fingerprint.replace(/[+/]/g, '\\$&')));
  await expectAccessible(page, '/dashboard/ssh-keys (remove dialog)');
  await confirm.getByRole('button', { name: 'Remove', exact: true }).click();
  await page.waitForURL(/\?done=removed$/);
  assert.equal(await page.getByRole('status').textContent(), 'SSH key removed.');
  assert.deepEqual([...(await keys()).keys()], ['desktop']);

  // OpenSSH's view agrees: only the desktop key signs the admin in.
  const file = await admin().get('/v1/ssh-keys/authorized-keys');
  assert.equal(file.status, 200);
  assert.ok(file.body.includes(desktop.line.split(' ')[1]));
  assert.ok(!file.body.includes(laptop.line.split(' ')[1]));
  const actions = (await admin().get('/v1/audit-events?limit=100')).body.data.map((/** @type {any} */ e) => e.action);
  for (const a of ['ssh_key.add', 'ssh_key.set_default', 'ssh_key.delete']) assert.ok(actions.includes(a), a);
  const logged = await auditLogActions(page, f.server.base);
  for (const a of ['ssh_key.add', 'ssh_key.set_default', 'ssh_key.delete']) assert.ok(logged.includes(a), `${a} in the Audit log`);

  for (const k of (await keys()).values()) assert.equal((await admin().delete(`/v1/ssh-keys/${k.id}`)).status, 204);
});

test('text that is not a public key, or a key registered already, is refused in the dialog with what was typed', async (t) => {
  const page = await adminOnKeys(t);
  let posted = page.waitForResponse((r) => r.request().method() === 'POST');
  await addKey(page, 'broken', 'ssh-ed25519 not-base64 me@host');
  assert.equal((await posted).status(), 400);
  await page.waitForLoadState();
  let dialog = page.getByRole('dialog', { name: 'Add SSH key' });
  await dialog.waitFor();
  assert.match((await dialog.getByRole('alert').textContent()) ?? '', /publicKey: /);
  assert.equal(await dialog.getByLabel('Public key', { exact: true }).inputValue(), 'ssh-ed25519 not-base64 me@host');
  assert.equal(await dialog.getByLabel('Name', { exact: true }).inputValue(), 'broken');
  await expectAccessible(page, '/dashboard/ssh-keys (refused add)');

  const twice = await keygen('twice');
  await page.goto(`${f.server.base}/dashboard/ssh-keys`);
  await addKey(page, 'first', twice.line);
  await page.waitForURL(/\?done=added$/);
  posted = page.waitForResponse((r) => r.request().method() === 'POST');
  await addKey(page, 'second', twice.line);
  assert.equal((await posted).status(), 409);
  await page.waitForLoadState();
  dialog = page.getByRole('dialog', { name: 'Add SSH key' });
  await dialog.waitFor();
  assert.match((await dialog.getByRole('alert').textContent()) ?? '', new RegExp(`the SSH key ${twice.fingerprint.replace(/[+/]/g, '\\$&')} is already registered`));
  assert.deepEqual([...(await keys()).keys()], ['first']);
  for (const k of (await keys()).values()) assert.equal((await admin().delete(`/v1/ssh-keys/${k.id}`)).status, 204);
});

test("a member manages their own keys; organization-wide keys and every member's keys are the admins'", async (t) => {
  const shared = await keygen('bastion');
  const made = await admin().post('/v1/ssh-keys', { name: 'bastion', publicKey: shared.line, orgWide: true });
  assert.equal(made.status, 201);
  const member = await addMember(f.server, 'Max Member');
  const own = await keygen('max@laptop');
  const page = await newPage(t, f.browser);
  await signInAsMember(page, f.server, member, ORG);
  await page.goto(`${f.server.base}/dashboard/ssh-keys`);

  const bastion = row(page, 'bastion');
  await bastion.waitFor();
  assert.match((await bastion.textContent()) ?? '', /Organization/);
  assert.equal(await bastion.getByRole('button', { name: 'Set default' }).count(), 0, 'an organization key is no default');
  const remove = bastion.getByRole('button', { name: 'Remove', exact: true });
  assert.ok(await remove.isDisabled());
  assert.equal(
    await page.locator(`#${await remove.getAttribute('aria-describedby')}`).textContent(),
    'organization-wide SSH keys need the admin role',
  );
  const every = page.getByLabel("Every member's keys");
  assert.ok(await every.isDisabled());
  assert.equal(
    await page.locator(`#${await every.getAttribute('aria-describedby')}`).textContent(),
    "listing every member's SSH keys needs the admin role",
  );
  await expectAccessible(page, '/dashboard/ssh-keys (member)');

  await page.getByRole('button', { name: 'Add SSH key', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Add SSH key' });
  const orgWide = dialog.getByLabel('Organization-wide (accepted for every member)');
  assert.ok(await orgWide.isDisabled());
  assert.equal(
    await dialog.locator(`#${await orgWide.getAttribute('aria-describedby')}`).textContent(),
    'organization-wide SSH keys need the admin role',
  );
  await expectAccessible(page, '/dashboard/ssh-keys (member, add dialog)');
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  await addKey(page, 'max laptop', own.line);
  await page.waitForURL(/\?done=added$/);
  const mine = row(page, 'max laptop');
  assert.match((await mine.textContent()) ?? '', /You/);

  // Forged with the member's valid CSRF token: refused by the API.
  const csrf = await csrfField(page);
  const removed = await forge(page, `/dashboard/ssh-keys/${made.body.data.id}/delete`, { csrf });
  assert.equal(removed.status, 403);
  assert.match(removed.html, /organization-wide SSH keys need the admin role/);
  const defaulted = await forge(page, `/dashboard/ssh-keys/${made.body.data.id}/default`, { csrf });
  assert.equal(defaulted.status, 400);
  assert.match(defaulted.html, /an organization-wide key cannot be a member(&#39;|')s default/);
  const other = await keygen('forged');
  const added = await forge(page, '/dashboard/ssh-keys', { csrf, name: 'forged', publicKey: other.line, orgWide: 'true' });
  assert.equal(added.status, 403);
  const all = await keys();
  assert.ok(all.has('bastion'));
  assert.ok(!all.has('forged'));
  // The page a forged removal gets shows the refusal above the table.
  await page.evaluate(
    ([action, token]) => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = action;
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = 'csrf';
      input.value = token;
      form.append(input);
      document.body.append(form);
      form.submit();
    },
    [`/dashboard/ssh-keys/${made.body.data.id}/delete`, csrf],
  );
  await page.waitForLoadState();
  assert.match(await alertText(page), /organization-wide SSH keys need the admin role/);

  // The admin sees the member's key among every member's, by name, and may remove it.
  const adminPage = await adminOnKeys(t);
  assert.equal(await row(adminPage, 'max laptop').count(), 0, "members' keys only when asked for");
  await adminPage.getByLabel("Every member's keys").check();
  await adminPage.getByRole('button', { name: 'Apply', exact: true }).click();
  await adminPage.waitForURL(/all=true/);
  const theirs = row(adminPage, 'max laptop');
  assert.match((await theirs.textContent()) ?? '', /Max Member/);
  assert.equal(await theirs.getByRole('button', { name: 'Set default' }).count(), 0);
  await expectAccessible(adminPage, '/dashboard/ssh-keys?all=true');
  await theirs.getByRole('button', { name: 'Remove', exact: true }).click();
  await adminPage.getByRole('dialog', { name: 'Remove max laptop?' }).getByRole('button', { name: 'Remove', exact: true }).click();
  await adminPage.waitForURL(/\/dashboard\/ssh-keys\?all=true&done=removed$/);
  assert.ok(!(await keys(f.server.adminKey, '?allOrg=true')).has('max laptop'));
  assert.equal((await admin().delete(`/v1/ssh-keys/${made.body.data.id}`)).status, 204);
});

test("another organization's SSH key is the 404 page", async (t) => {
  const other = await addMember(f.server, 'Oscar Other');
  const key = await keygen('oscar');
  const made = await api(f.server.base, other.token).post('/v1/ssh-keys', { name: 'oscar', publicKey: key.line });
  assert.equal(made.status, 201);
  const page = await adminOnKeys(t);
  const csrf = await csrfField(page);
  for (const action of ['delete', 'default']) {
    const res = await forge(page, `/dashboard/ssh-keys/${made.body.data.id}/${action}`, { csrf });
    assert.equal(res.status, 404, action);
    assert.match(res.html, /<code>not_found<\/code>/);
  }
  assert.ok((await keys(other.token)).has('oscar'), 'still there');
});

test('a POST without the CSRF token is refused and changes nothing', async (t) => {
  const key = await keygen('guarded');
  const made = await admin().post('/v1/ssh-keys', { name: 'guarded', publicKey: key.line });
  assert.equal(made.status, 201);
  const page = await adminOnKeys(t);
  const extra = await keygen('no-token');
  const added = await forge(page, '/dashboard/ssh-keys', { name: 'no-token', publicKey: extra.line });
  assert.equal(added.status, 403);
  assert.match(added.html, /csrf_failed/);
  const removed = await forge(page, `/dashboard/ssh-keys/${made.body.data.id}/delete`, { csrf: 'not-the-token' });
  assert.equal(removed.status, 403);
  const now = await keys();
  assert.ok(now.has('guarded'));
  assert.ok(!now.has('no-token'));
});
