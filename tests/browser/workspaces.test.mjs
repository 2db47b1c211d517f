// @ts-check
/**
 * Organization › Workspaces (issue 24, point 5), against a server with a
 * real object store (SeaweedFS, weed.mjs): an admin creates organization
 * and personal workspaces through the dialog and deletes one with the
 * confirmation; a refused create re-opens the dialog with the API's error
 * and what was typed; a member sees the organization's workspaces and their
 * own only, finds the organization kind disabled with the API's reason, and
 * their forged POSTs are refused by the API's rules; another organization's
 * workspace is the 404 page; a workspace's files (uploaded through presigned
 * URLs from the API) are listed a page at a time, and a workspace that still
 * has files is not deleted; a server without a store says that file access
 * is not configured and the rest works; a POST without the CSRF token changes
 * nothing; axe on the pages and dialogs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, csrfField, expectAccessible, fixtureWith, newPage, signIn, startServer } from './harness.mjs';
import { addMember, alertText, forge, joined } from './members.mjs';
import { startWeed } from './weed.mjs';

/** @typedef {import('node:test').TestContext} TestContext */
/** @typedef {import('playwright-core').Page} Page */
/** @typedef {import('./harness.mjs').Server} Server */

const ORG = 'Workspace Tests';

// The store, then the server whose configuration names it.
const f = fixtureWith({
  start: startWeed,
  server: (weed) => ({ org: ORG, toml: weed.toml }),
  ready: (weed, server) => server.secret(weed.secretAccessKey),
});

/** The admin's JSON API. */
const admin = () => api(f.server.base, f.server.adminKey);

/**
 * The admin of `server`, signed in, on the Workspaces page (through the
 * navigation).
 * @param {TestContext} t
 * @param {Server} [server]
 */
async function adminOnWorkspaces(t, server = f.server) {
  const page = await newPage(t, f.browser);
  await signIn(page, server.base, server.adminEmail, server.adminPassword);
  await page.getByRole('link', { name: 'Workspaces', exact: true }).click();
  await page.waitForURL(`${server.base}/dashboard/workspaces`);
  return page;
}

/**
 * The table row of the workspace `name`.
 * @param {Page} page
 * @param {string} name
 */
const row = (page, name) => page.getByRole('row').filter({ has: page.getByRole('cell', { name, exact: true }) });

/**
 * A row's cells as text, whitespace collapsed.
 * @param {import('playwright-core').Locator} r
 */
async function cells(r) {
  return (await r.getByRole('cell').allTextContents()).map((c) => c.replace(/\s+/g, ' ').trim());
}

/**
 * Fills the create dialog (it must be open).
 * @param {Page} page
 * @param {{ name: string, kind?: 'org' | 'personal', project?: string, quota?: string, unit?: string }} w
 */
async function fillCreate(page, w) {
  const dialog = page.getByRole('dialog', { name: 'Create workspace' });
  await dialog.getByLabel('Name', { exact: true }).fill(w.name);
  if (w.kind === 'org') await dialog.getByLabel('Organization (every member; sandboxes may mount it)').check();
  if (w.kind === 'personal') await dialog.getByLabel('Personal (only you and the admins; never mounted)').check();
  if (w.project) await dialog.getByLabel('Project', { exact: true }).selectOption({ label: w.project });
  if (w.quota !== undefined) await dialog.getByLabel('Quota', { exact: true }).fill(w.quota);
  if (w.unit) await dialog.getByLabel('Quota unit', { exact: true }).selectOption(w.unit);
  return dialog;
}

/**
 * Opens the create dialog, fills it and sends it; resolves with the POST's answer.
 * @param {Page} page
 * @param {{ name: string, kind?: 'org' | 'personal', project?: string, quota?: string, unit?: string }} w
 */
async function create(page, w) {
  await page.getByRole('button', { name: 'Create workspace', exact: true }).click();
  const dialog = await fillCreate(page, w);
  const posted = page.waitForResponse((r) => r.request().method() === 'POST');
  await dialog.getByRole('button', { name: 'Create', exact: true }).click();
  const res = await posted;
  await page.waitForLoadState();
  return res;
}

/**
 * `POST /v1/workspaces` through `client`; the workspace.
 * @param {import('./harness.mjs').Api} client
 * @param {Record<string, unknown>} body
 */
async function created(client, body) {
  const { status, body: answer } = await client.post('/v1/workspaces', body);
  assert.equal(status, 201, `create ${JSON.stringify(body)}: ${JSON.stringify(answer)}`);
  return answer.data;
}

/**
 * Uploads `bytes` as `path` of workspace `id` through a URL the API presigns
 * for the admin.
 * @param {string} id
 * @param {string} path
 * @param {string} bytes
 */
async function upload(id, path, bytes) {
  const { status, body } = await admin().post(`/v1/workspaces/${id}/presign`, { path, method: 'PUT', expiresIn: 60 });
  assert.equal(status, 200, JSON.stringify(body));
  const put = await fetch(body.data.url, { method: 'PUT', body: bytes });
  assert.equal(put.status, 200, `the store refused the presigned upload of ${path}`);
}

/**
 * Deletes `path` of workspace `id` through a presigned URL.
 * @param {string} id
 * @param {string} path
 */
async function removeFile(id, path) {
  const { status, body } = await admin().post(`/v1/workspaces/${id}/presign`, { path, method: 'DELETE' });
  assert.equal(status, 200, JSON.stringify(body));
  const gone = await fetch(body.data.url, { method: 'DELETE' });
  assert.ok(gone.ok, `the store refused the presigned delete of ${path}: ${gone.status}`);
}

test('an admin creates organization and personal workspaces and deletes one through the dialog', async (t) => {
  const project = (await admin().post('/v1/projects', { name: 'Research' })).body.data;
  const page = await adminOnWorkspaces(t);
  await page.getByText('No workspaces yet.').waitFor();
  assert.match((await page.locator('main').textContent()) ?? '', /latchkey workspace create NAME/);
  await expectAccessible(page, '/dashboard/workspaces (empty)');
  await page.getByRole('button', { name: 'Create workspace', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Create workspace' });
  await dialog.waitFor();
  const orgKind = dialog.getByLabel('Organization (every member; sandboxes may mount it)');
  assert.ok(await orgKind.isChecked(), "an admin's new workspace is the organization's unless they choose");
  assert.ok(await orgKind.isEnabled());
  await expectAccessible(page, '/dashboard/workspaces (create dialog)');
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();

  const res = await create(page, { name: 'shared-data', kind: 'org', project: 'Research', quota: '10', unit: 'GiB' });
  assert.equal(res.status(), 303);
  await page.waitForURL(/\?done=created$/);
  assert.equal(await page.getByRole('status').textContent(), 'Workspace created.');
  await create(page, { name: 'my-notes', kind: 'personal', quota: '1.5', unit: 'MiB' });
  await page.waitForURL(/\?done=created$/);

  const shared = await cells(row(page, 'shared-data'));
  assert.deepEqual(shared.slice(0, 5), ['shared-data', 'Organization', 'Organization', 'Research', '10 GiB']);
  const notes = await cells(row(page, 'my-notes'));
  assert.deepEqual(notes.slice(0, 5), ['my-notes', 'Personal', 'You', '—', '1.5 MiB']);
  await expectAccessible(page, '/dashboard/workspaces (two workspaces)');

  // What the API holds: the kinds, the project, the quotas in bytes.
  const { body } = await admin().get('/v1/workspaces');
  const byName = Object.fromEntries(body.data.map((/** @type {any} */ w) => [w.name, w]));
  assert.equal(byName['shared-data'].kind, 'org');
  assert.equal(byName['shared-data'].projectId, project.id);
  assert.equal(byName['shared-data'].quotaBytes, 10 * 2 ** 30);
  assert.equal(byName['my-notes'].kind, 'personal');
  assert.equal(byName['my-notes'].ownerUserId, f.server.adminUserId);
  assert.equal(byName['my-notes'].quotaBytes, 1.5 * 2 ** 20);

  // Deleting asks first; going back deletes nothing.
  await row(page, 'my-notes').getByRole('button', { name: 'Delete', exact: true }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete my-notes?' });
  await confirm.waitFor();
  await expectAccessible(page, '/dashboard/workspaces (delete confirmation)');
  await confirm.getByRole('button', { name: 'Cancel', exact: true }).click();
  assert.equal((await admin().get(`/v1/workspaces/${byName['my-notes'].id}`)).status, 200);
  await row(page, 'my-notes').getByRole('button', { name: 'Delete', exact: true }).click();
  await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.waitForURL(/\?done=deleted$/);
  assert.equal(await page.getByRole('status').textContent(), 'Workspace deleted.');
  assert.equal(await row(page, 'my-notes').count(), 0);
  assert.equal((await admin().get(`/v1/workspaces/${byName['my-notes'].id}`)).status, 404);
  assert.equal((await admin().get(`/v1/workspaces/${byName['shared-data'].id}`)).status, 200);
});

test('a refused create re-opens the dialog with the API error and what was typed', async (t) => {
  await admin().post('/v1/projects', { name: 'Billing' });
  await created(admin(), { name: 'taken-name', kind: 'org' });
  const page = await adminOnWorkspaces(t);
  const res = await create(page, { name: 'taken-name', kind: 'org', project: 'Billing', quota: '2.5', unit: 'TiB' });
  assert.equal(res.status(), 409);
  const dialog = page.getByRole('dialog', { name: 'Create workspace' });
  await dialog.waitFor();
  assert.match(await alertText(dialog), /a workspace with this name already exists/);
  assert.match(await alertText(dialog), /Error conflict/);
  assert.equal(await dialog.getByLabel('Name', { exact: true }).inputValue(), 'taken-name');
  assert.ok(await dialog.getByLabel('Organization (every member; sandboxes may mount it)').isChecked());
  const project = dialog.getByLabel('Project', { exact: true });
  assert.equal(await project.evaluate((el) => /** @type {HTMLSelectElement} */ (el).selectedOptions[0]?.text), 'Billing');
  assert.equal(await dialog.getByLabel('Quota', { exact: true }).inputValue(), '2.5');
  assert.equal(await dialog.getByLabel('Quota unit', { exact: true }).inputValue(), 'TiB');
  await expectAccessible(page, '/dashboard/workspaces (refused create)');

  // Refused by the API's own rules too: a quota of zero, typed as it was.
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  const zero = await create(page, { name: 'zero-quota', kind: 'personal', quota: '0', unit: 'MiB' });
  assert.equal(zero.status(), 400);
  assert.match(await alertText(dialog), /quotaBytes must be a positive number of bytes/);
  assert.equal(await dialog.getByLabel('Name', { exact: true }).inputValue(), 'zero-quota');
  assert.ok(await dialog.getByLabel('Personal (only you and the admins; never mounted)').isChecked());
  assert.equal(await dialog.getByLabel('Quota unit', { exact: true }).inputValue(), 'MiB');
  const names = (await admin().get('/v1/workspaces')).body.data.map((/** @type {any} */ w) => w.name);
  assert.deepEqual(names.filter((/** @type {string} */ n) => n === 'taken-name' || n === 'zero-quota'), ['taken-name']);
});

test("a member sees the organization's workspaces and their own; the organization's are the admins' to change", async (t) => {
  const team = await created(admin(), { name: 'team-space', kind: 'org' });
  const adminOwn = await created(admin(), { name: 'admin-private', kind: 'personal' });
  const member = await joined(f.server, 'wanda');
  const theirs = await created(api(f.server.base, member.token), { name: 'wanda-scratch', kind: 'personal' });
  // The API's reasons, as the page must give them.
  const orgRefusal = await api(f.server.base, member.token).post('/v1/workspaces', { name: 'nope', kind: 'org' });
  assert.equal(orgRefusal.status, 403);
  const orgWhy = orgRefusal.body.error.message;
  const allRefusal = await api(f.server.base, member.token).get('/v1/workspaces?allOrg=true');
  assert.equal(allRefusal.status, 403);

  const page = await newPage(t, f.browser);
  await signIn(page, f.server.base, member.email, member.password);
  await page.getByRole('link', { name: 'Workspaces', exact: true }).click();
  await row(page, 'team-space').waitFor();
  assert.deepEqual((await cells(row(page, 'wanda-scratch'))).slice(1, 3), ['Personal', 'You']);
  assert.equal(await row(page, 'admin-private').count(), 0, "another member's personal workspace is not listed");

  const del = row(page, 'team-space').getByRole('button', { name: 'Delete', exact: true });
  assert.ok(await del.isDisabled());
  assert.equal(await page.locator(`#${await del.getAttribute('aria-describedby')}`).textContent(), orgWhy);
  assert.ok(await row(page, 'wanda-scratch').getByRole('button', { name: 'Delete', exact: true }).isEnabled());
  const every = page.getByLabel("Every member's personal workspaces");
  assert.ok(await every.isDisabled());
  assert.equal(
    await page.locator(`#${await every.getAttribute('aria-describedby')}`).textContent(),
    allRefusal.body.error.message,
  );

  await page.getByRole('button', { name: 'Create workspace', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Create workspace' });
  const orgKind = dialog.getByLabel('Organization (every member; sandboxes may mount it)');
  assert.ok(await orgKind.isDisabled());
  assert.equal(await dialog.locator(`#${await orgKind.getAttribute('aria-describedby')}`).textContent(), orgWhy);
  assert.ok(await dialog.getByLabel('Personal (only you and the admins; never mounted)').isChecked());
  await expectAccessible(page, '/dashboard/workspaces (member, create dialog)');
  await fillCreate(page, { name: 'wanda-notes' });
  await dialog.getByRole('button', { name: 'Create', exact: true }).click();
  await page.waitForURL(/\?done=created$/);
  assert.deepEqual((await cells(row(page, 'wanda-notes'))).slice(1, 3), ['Personal', 'You']);
  await expectAccessible(page, '/dashboard/workspaces (member)');

  // Forged with their own valid CSRF token: refused by the API's rules, nothing changed.
  const csrf = await csrfField(page);
  const deleted = await forge(page, `/dashboard/workspaces/${team.id}/delete`, { csrf });
  assert.equal(deleted.status, 403);
  assert.match(deleted.html, /<code>forbidden<\/code>/);
  assert.ok(deleted.html.includes(orgWhy), 'the refusal gives the reason');
  const made = await forge(page, '/dashboard/workspaces', { csrf, name: 'forged-org', kind: 'org', quotaUnit: 'GiB' });
  assert.equal(made.status, 403);
  assert.match(made.html, /<code>forbidden<\/code>/);
  assert.ok(made.html.includes(orgWhy));
  const hidden = await forge(page, `/dashboard/workspaces/${adminOwn.id}/delete`, { csrf });
  assert.equal(hidden.status, 404);
  assert.match(hidden.html, /<code>not_found<\/code>/);
  assert.ok(!hidden.html.includes('admin-private'));
  const peek = await page.goto(`${f.server.base}/dashboard/workspaces/${adminOwn.id}`);
  assert.equal(peek?.status(), 404);
  assert.match(await alertText(page), /not_found/);
  const names = (await admin().get('/v1/workspaces?allOrg=true')).body.data.map((/** @type {any} */ w) => w.name);
  for (const kept of ['team-space', 'admin-private']) assert.ok(names.includes(kept), kept);
  assert.ok(!names.includes('forged-org'));

  // The admin's wider view: every member's personal workspaces, by owner.
  const adminPage = await adminOnWorkspaces(t);
  assert.equal(await row(adminPage, 'wanda-scratch').count(), 0, "members' personal workspaces only when asked for");
  await adminPage.getByLabel("Every member's personal workspaces").check();
  await adminPage.getByRole('button', { name: 'Apply', exact: true }).click();
  await adminPage.waitForURL(/\?all=true$/);
  assert.deepEqual((await cells(row(adminPage, 'wanda-scratch'))).slice(1, 3), ['Personal', member.name]);
  assert.deepEqual((await cells(row(adminPage, 'admin-private'))).slice(1, 3), ['Personal', 'You']);
  await expectAccessible(adminPage, "/dashboard/workspaces?all=true (every member's)");
  // An admin may delete a member's personal workspace; the list stays the wide one.
  await row(adminPage, 'wanda-scratch').getByRole('button', { name: 'Delete', exact: true }).click();
  await adminPage.getByRole('dialog', { name: 'Delete wanda-scratch?' }).getByRole('button', { name: 'Delete' }).click();
  await adminPage.waitForURL(/\?all=true&done=deleted$/);
  assert.equal((await admin().get(`/v1/workspaces/${theirs.id}`)).status, 404);
});

test("another organization's workspace is the 404 page", async (t) => {
  const other = await addMember(f.server, 'Otto Other');
  // Their session acts in the organization their sign-up made.
  const foreign = await created(api(f.server.base, other.token), { name: 'foreign-space', kind: 'org' });
  const page = await adminOnWorkspaces(t);
  const res = await page.goto(`${f.server.base}/dashboard/workspaces/${foreign.id}`);
  assert.equal(res?.status(), 404);
  assert.match(await alertText(page), /Error not_found/);
  await expectAccessible(page, '/dashboard/workspaces/{id} (not found)');
  await page.goto(`${f.server.base}/dashboard/workspaces`);
  const csrf = await csrfField(page);
  const deleted = await forge(page, `/dashboard/workspaces/${foreign.id}/delete`, { csrf });
  assert.equal(deleted.status, 404);
  assert.match(deleted.html, /<code>not_found<\/code>/);
  assert.ok(!deleted.html.includes('foreign-space'));
  assert.equal((await api(f.server.base, other.token).get(`/v1/workspaces/${foreign.id}`)).status, 200, 'still there');
});

test("a workspace's page lists its files a page at a time; one that has files is not deleted", async (t) => {
  const w = await created(admin(), { name: 'with-files', kind: 'org' });
  await upload(w.id, 'notes/today.md', '# Today\n');
  await upload(w.id, 'data/sample.bin', 'x'.repeat(1536));
  // 50 files a page: 51 more make a second page.
  const many = Array.from({ length: 51 }, (_, i) => `runs/${String(i).padStart(3, '0')}.log`);
  await Promise.all(many.map((p) => upload(w.id, p, 'x')));

  const page = await adminOnWorkspaces(t);
  await row(page, 'with-files').getByRole('link', { name: 'with-files', exact: true }).click();
  await page.waitForURL(`${f.server.base}/dashboard/workspaces/${w.id}`);
  await page.getByRole('heading', { name: 'with-files', level: 1 }).waitFor();
  const files = page.getByRole('table', { name: 'Files' });
  const sample = files.getByRole('row').filter({ has: page.getByRole('cell', { name: 'data/sample.bin', exact: true }) });
  const [, size, modified] = await cells(sample);
  assert.equal(size, '1.5 KiB');
  assert.match(modified ?? '', /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
  assert.equal((await cells(files.getByRole('row').filter({ hasText: 'notes/today.md' })))[1], '8 B');
  await expectAccessible(page, '/dashboard/workspaces/{id} (files)');
  /** The paths the files table shows (each row's first of three cells). */
  const paths = async () => {
    const all = await files.getByRole('row').getByRole('cell').allTextContents();
    return all.filter((_, i) => i % 3 === 0).map((p) => p.trim());
  };
  const first = await paths();
  assert.equal(first.length, 50);
  assert.deepEqual(first.slice(0, 2), ['data/sample.bin', 'notes/today.md']);
  await page.getByRole('link', { name: 'Next page', exact: true }).click();
  await page.waitForURL(/\?cursor=/);
  const second = await paths();
  assert.deepEqual([...first, ...second].sort(), ['data/sample.bin', 'notes/today.md', ...many].sort());
  assert.equal(await page.getByRole('link', { name: 'Next page', exact: true }).count(), 0);
  await page.getByRole('link', { name: 'First page', exact: true }).click();
  assert.deepEqual(await paths(), first);

  // Deleting it is refused while it has files, with the API's message in the dialog.
  await page.goto(`${f.server.base}/dashboard/workspaces`);
  await row(page, 'with-files').getByRole('button', { name: 'Delete', exact: true }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete with-files?' });
  const refused = page.waitForResponse((r) => r.request().method() === 'POST');
  await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
  assert.equal((await refused).status(), 409);
  await page.waitForLoadState();
  await confirm.waitFor();
  assert.match(await alertText(confirm), /the workspace still has files; delete them first/);
  assert.match(await alertText(confirm), /workspace_not_empty/);
  await expectAccessible(page, '/dashboard/workspaces (delete refused: not empty)');
  assert.equal((await admin().get(`/v1/workspaces/${w.id}`)).status, 200);

  // Emptied, it goes.
  await Promise.all(['notes/today.md', 'data/sample.bin', ...many].map((p) => removeFile(w.id, p)));
  await page.goto(`${f.server.base}/dashboard/workspaces/${w.id}`);
  await page.getByText('No files yet.').waitFor();
  await page.goto(`${f.server.base}/dashboard/workspaces`);
  await row(page, 'with-files').getByRole('button', { name: 'Delete', exact: true }).click();
  await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.waitForURL(/\?done=deleted$/);
  assert.equal((await admin().get(`/v1/workspaces/${w.id}`)).status, 404);
});

test('without an object store the page says file access is not configured, and the rest works', async (t) => {
  const plain = await startServer({ org: 'No Store' });
  t.after(() => plain.stop());
  const page = await adminOnWorkspaces(t, plain);
  const res = await create(page, { name: 'records-only', kind: 'org' });
  assert.equal(res.status(), 303);
  await page.waitForURL(/\?done=created$/);
  await row(page, 'records-only').getByRole('link', { name: 'records-only', exact: true }).click();
  await page.getByRole('heading', { name: 'records-only', level: 1 }).waitFor();
  const note = page.getByRole('status');
  assert.match((await note.textContent()) ?? '', /File access is not configured on this server/);
  assert.match((await page.locator('dl').textContent()) ?? '', /orgs\/org_\w+\/workspaces\/wsp_\w+\//);
  await expectAccessible(page, '/dashboard/workspaces/{id} (no object store)');
  // The API's answer the page read.
  const id = new URL(page.url()).pathname.split('/').pop();
  const files = await api(plain.base, plain.adminKey).get(`/v1/workspaces/${id}/files`);
  assert.equal(files.status, 501);
  assert.equal(files.body.error.code, 'storage_not_configured');
  // Without a store there is nothing to check: the record is deleted.
  await page.goto(`${plain.base}/dashboard/workspaces`);
  await row(page, 'records-only').getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('dialog', { name: 'Delete records-only?' }).getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL(/\?done=deleted$/);
  await page.getByText('No workspaces yet.').waitFor();
});

test('without JavaScript the dialogs are plain forms that work', async (t) => {
  const page = await newPage(t, f.browser, { javaScriptEnabled: false });
  await signIn(page, f.server.base, f.server.adminEmail, f.server.adminPassword);
  await page.goto(`${f.server.base}/dashboard/workspaces`);
  assert.equal(await page.getByRole('dialog').count(), 0, 'no dialog shows before it is asked for');
  await page.getByRole('button', { name: 'Create workspace', exact: true }).click();
  const dialog = await fillCreate(page, { name: 'no-script', kind: 'personal', quota: '3', unit: 'MiB' });
  await dialog.getByRole('button', { name: 'Create', exact: true }).click();
  await page.waitForURL(/\?done=created$/);
  assert.deepEqual((await cells(row(page, 'no-script'))).slice(0, 5), ['no-script', 'Personal', 'You', '—', '3 MiB']);
  await row(page, 'no-script').getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('dialog', { name: 'Delete no-script?' }).getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL(/\?done=deleted$/);
  assert.equal(await row(page, 'no-script').count(), 0);
});

test('a POST without the CSRF token is refused and changes nothing', async (t) => {
  const kept = await created(admin(), { name: 'guarded', kind: 'org' });
  const page = await adminOnWorkspaces(t);
  /** The newest audit event's id. */
  const newest = async () => (await admin().get('/v1/audit-events?limit=1')).body.data[0]?.id;
  const before = await newest();
  const made = await forge(page, '/dashboard/workspaces', { name: 'no-token', kind: 'org', quotaUnit: 'GiB' });
  assert.equal(made.status, 403);
  assert.match(made.html, /csrf_failed/);
  const deleted = await forge(page, `/dashboard/workspaces/${kept.id}/delete`, { csrf: 'wrong' });
  assert.equal(deleted.status, 403);
  assert.match(deleted.html, /csrf_failed/);
  assert.equal((await admin().get(`/v1/workspaces/${kept.id}`)).status, 200);
  const names = (await admin().get('/v1/workspaces')).body.data.map((/** @type {any} */ w) => w.name);
  assert.ok(!names.includes('no-token'));
  assert.equal(await newest(), before, 'nothing was audited');
});
