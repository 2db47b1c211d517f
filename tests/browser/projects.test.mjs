// @ts-check
/**
 * Organization › Projects: an admin creates, edits and deletes a project
 * through the dialogs; a project that keys belong to is refused with the
 * API's count; a member sees the controls disabled with the API's reason
 * and a forged POST of theirs is refused; another organization's project
 * is the 404 page; a POST without the CSRF token changes nothing; axe on
 * the page and its dialogs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, csrfField, expectAccessible, fixture, newPage, signIn } from './harness.mjs';
import { addMember, alertText, forge, signInAsMember } from './members.mjs';

/** @typedef {import('node:test').TestContext} TestContext */
/** @typedef {import('playwright-core').Page} Page */

const ORG = 'Project Tests';
const f = fixture({ org: ORG });

/** The admin's JSON API. */
const admin = () => api(f.server.base, f.server.adminKey);

/**
 * The admin, signed in, on the projects page.
 * @param {TestContext} t
 * @returns {Promise<Page>}
 */
async function adminOnProjects(t) {
  const page = await newPage(t, f.browser);
  await signIn(page, f.server.base, f.server.adminEmail, f.server.adminPassword);
  await page.getByRole('link', { name: 'Projects', exact: true }).click();
  await page.waitForURL(`${f.server.base}/dashboard/projects`);
  return page;
}

/**
 * The organization's projects, through the API.
 * @returns {Promise<{ id: string, name: string, description: string | null }[]>}
 */
async function projects() {
  const { status, body } = await admin().get('/v1/projects?limit=100');
  assert.equal(status, 200);
  return body.data;
}

/**
 * A project made through the API.
 * @param {string} name
 * @returns {Promise<string>} its id
 */
async function project(name) {
  const { status, body } = await admin().post('/v1/projects', { name });
  assert.equal(status, 201);
  return body.data.id;
}

/**
 * The table row showing `name`.
 * @param {Page} page
 * @param {string} name
 */
const row = (page, name) => page.getByRole('row').filter({ has: page.getByRole('cell', { name, exact: true }) });

/**
 * The notice a change leaves.
 * @param {Page} page
 */
const notice = (page) => page.getByRole('status');

test('an admin creates, edits and deletes a project through the dialogs', async (t) => {
  const page = await adminOnProjects(t);
  // The empty state offers the action and the CLI line.
  await assert.doesNotReject(page.getByText('No projects yet').waitFor());
  assert.match((await page.locator('main').textContent()) ?? '', /latchkey project create "Checkout service"/);
  await expectAccessible(page, '/dashboard/projects (empty)');

  await page.getByRole('button', { name: 'Create project', exact: true }).click();
  const create = page.getByRole('dialog', { name: 'Create project' });
  await create.waitFor();
  await expectAccessible(page, '/dashboard/projects (create dialog)');
  await create.getByLabel('Name', { exact: true }).fill('Checkout service');
  await create.getByLabel('Description', { exact: true }).fill('Payments and orders');
  await create.getByRole('button', { name: 'Create', exact: true }).click();
  await page.waitForURL(/\/dashboard\/projects\?done=created$/);
  assert.equal(await notice(page).textContent(), 'Project created.');
  await row(page, 'Checkout service').waitFor();
  const [made] = await projects();
  assert.equal(made.name, 'Checkout service');
  assert.equal(made.description, 'Payments and orders');
  await expectAccessible(page, '/dashboard/projects (a project)');

  await row(page, 'Checkout service').getByRole('button', { name: 'Edit', exact: true }).click();
  const edit = page.getByRole('dialog', { name: 'Edit Checkout service' });
  await edit.waitFor();
  assert.equal(await edit.getByLabel('Name', { exact: true }).inputValue(), 'Checkout service');
  await expectAccessible(page, '/dashboard/projects (edit dialog)');
  await edit.getByLabel('Name', { exact: true }).fill('Checkout');
  await edit.getByLabel('Description', { exact: true }).fill('');
  await edit.getByRole('button', { name: 'Save', exact: true }).click();
  await page.waitForURL(/\?done=updated$/);
  assert.equal(await notice(page).textContent(), 'Project saved.');
  const [edited] = await projects();
  assert.equal(edited.id, made.id);
  assert.equal(edited.name, 'Checkout');
  assert.equal(edited.description, null, 'an emptied description is cleared');

  await row(page, 'Checkout').getByRole('button', { name: 'Delete', exact: true }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete Checkout?' });
  await confirm.waitFor();
  await expectAccessible(page, '/dashboard/projects (delete dialog)');
  await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.waitForURL(/\?done=deleted$/);
  assert.equal(await notice(page).textContent(), 'Project deleted.');
  assert.equal((await projects()).length, 0);

  // The audit trail has the three changes, by the admin.
  const { body } = await admin().get('/v1/audit-events?limit=100');
  const mine = body.data.filter((/** @type {any} */ e) => e.target?.id === made.id).map((/** @type {any} */ e) => e.action);
  assert.deepEqual(mine.sort(), ['project.create', 'project.delete', 'project.update']);
});

test('a refused name re-opens the create dialog with the API error and what was typed', async (t) => {
  const page = await adminOnProjects(t);
  await page.getByRole('button', { name: 'Create project', exact: true }).click();
  const create = page.getByRole('dialog', { name: 'Create project' });
  await create.getByLabel('Name', { exact: true }).fill('   ');
  await create.getByLabel('Description', { exact: true }).fill('kept as typed');
  const posted = page.waitForResponse((r) => r.request().method() === 'POST');
  await create.getByRole('button', { name: 'Create', exact: true }).click();
  assert.equal((await posted).status(), 400);
  await page.waitForLoadState();
  const reopened = page.getByRole('dialog', { name: 'Create project' });
  await reopened.waitFor();
  const problem = (await reopened.getByRole('alert').textContent()) ?? '';
  assert.match(problem, /invalid_request/);
  assert.match(problem, /request \S+/);
  assert.doesNotMatch(problem, /request - /);
  assert.equal(await reopened.getByLabel('Description', { exact: true }).inputValue(), 'kept as typed');
  await expectAccessible(page, '/dashboard/projects (refused create)');
  assert.equal((await projects()).length, 0);
});

test('a project that keys belong to is not deleted, and the dialog says how many hold it', async (t) => {
  const id = await project('Gateway');
  const keyIds = [];
  for (const name of ['gw-1', 'gw-2']) {
    const { status, body } = await admin().post('/v1/api-keys', { name, scopes: ['org:read'], projectId: id });
    assert.equal(status, 201);
    f.server.secret(body.data.key);
    keyIds.push(body.data.id);
  }
  const page = await adminOnProjects(t);
  await row(page, 'Gateway').getByRole('button', { name: 'Delete', exact: true }).click();
  const posted = page.waitForResponse((r) => r.request().method() === 'POST');
  await page.getByRole('dialog', { name: 'Delete Gateway?' }).getByRole('button', { name: 'Delete', exact: true }).click();
  assert.equal((await posted).status(), 409);
  await page.waitForLoadState();
  const dialog = page.getByRole('dialog', { name: 'Delete Gateway?' });
  await dialog.waitFor();
  const problem = ((await dialog.getByRole('alert').textContent()) ?? '').replace(/\s+/g, ' ');
  assert.match(problem, /project has 2 active API key\(s\); revoke or delete them first/);
  assert.match(problem, /conflict/);
  await expectAccessible(page, '/dashboard/projects (delete refused: in use)');
  assert.ok((await projects()).some((p) => p.id === id), 'the project is still there');

  // Once its keys are revoked, it goes.
  for (const k of keyIds) assert.equal((await admin().post(`/v1/api-keys/${k}/revoke`)).status, 200);
  await page.goto(`${f.server.base}/dashboard/projects`);
  await row(page, 'Gateway').getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('dialog', { name: 'Delete Gateway?' }).getByRole('button', { name: 'Delete', exact: true }).click();
  await page.waitForURL(/\?done=deleted$/);
  assert.ok(!(await projects()).some((p) => p.id === id));
});

test('a member sees the projects, the admin-only controls disabled with the reason, and a forged POST refused', async (t) => {
  const id = await project('Shared project');
  const member = await addMember(f.server, 'Mira Member');
  const page = await newPage(t, f.browser);
  await signInAsMember(page, f.server, member, ORG);
  await page.goto(`${f.server.base}/dashboard/projects`);
  await row(page, 'Shared project').waitFor();

  const create = page.getByRole('button', { name: 'Create project', exact: true });
  assert.ok(await create.isDisabled(), 'Create project is disabled for a member');
  const reason = await page.locator(`#${await create.getAttribute('aria-describedby')}`).textContent();
  assert.match(reason ?? '', /org:write/, 'the reason is the API refusal');
  const edit = row(page, 'Shared project').getByRole('button', { name: 'Edit', exact: true });
  const del = row(page, 'Shared project').getByRole('button', { name: 'Delete', exact: true });
  assert.ok(await edit.isDisabled());
  assert.ok(await del.isDisabled());
  assert.equal(await del.getAttribute('aria-describedby'), await create.getAttribute('aria-describedby'));
  assert.equal(await page.getByRole('dialog').count(), 0, 'no dialog of an action the member may not take');
  await expectAccessible(page, '/dashboard/projects (member)');

  // Forged with the member's own valid CSRF token: the API refuses them.
  const csrf = await csrfField(page);
  const made = await forge(page, '/dashboard/projects', { csrf, name: 'Forged' });
  assert.equal(made.status, 403);
  assert.match(made.html, /lacks the `org:write` scope/);
  const deleted = await forge(page, `/dashboard/projects/${id}/delete`, { csrf });
  assert.equal(deleted.status, 403);
  const renamed = await forge(page, `/dashboard/projects/${id}`, { csrf, name: 'Renamed' });
  assert.equal(renamed.status, 403);
  const now = await projects();
  assert.ok(!now.some((p) => p.name === 'Forged'));
  assert.equal(now.find((p) => p.id === id)?.name, 'Shared project');

  // The page a forged form gets shows the refusal above the table.
  await page.goto(`${f.server.base}/dashboard/projects`);
  await page.evaluate(
    ([action, token]) => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = action;
      for (const [k, v] of [['csrf', token], ['name', 'Forged again']]) {
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = k;
        input.value = v;
        form.append(input);
      }
      document.body.append(form);
      form.submit();
    },
    ['/dashboard/projects', csrf],
  );
  await page.waitForLoadState();
  assert.match(await alertText(page), /lacks the `org:write` scope/);
  await expectAccessible(page, '/dashboard/projects (member, refused)');
});

test("another organization's project is the 404 page", async (t) => {
  const other = await addMember(f.server, 'Otto Other');
  // A project in Otto's own organization, where he is the admin.
  const { status, body } = await api(f.server.base, other.token).post('/v1/projects', { name: 'Not yours' });
  assert.equal(status, 201);
  const foreign = body.data.id;

  const page = await adminOnProjects(t);
  const csrf = await csrfField(page);
  for (const [path, fields] of /** @type {const} */ ([
    [`/dashboard/projects/${foreign}/delete`, {}],
    [`/dashboard/projects/${foreign}`, { name: 'Taken over' }],
  ])) {
    const res = await forge(page, path, { csrf, ...fields });
    assert.equal(res.status, 404, `${path} answered ${res.status}`);
    assert.match(res.html, /<code>not_found<\/code>/);
    assert.match(res.html, /Something went wrong/);
  }
  const theirs = await api(f.server.base, other.token).get(`/v1/projects/${foreign}`);
  assert.equal(theirs.status, 200);
  assert.equal(theirs.body.data.name, 'Not yours');
});

test('a POST without the CSRF token, or with a wrong one, is refused and changes nothing', async (t) => {
  const id = await project('Guarded');
  const page = await adminOnProjects(t);
  /** @type {Record<string, string>[]} */
  const forms = [{ name: 'No token' }, { name: 'Wrong token', csrf: 'x'.repeat(43) }];
  for (const fields of forms) {
    const res = await forge(page, '/dashboard/projects', fields);
    assert.equal(res.status, 403);
    assert.match(res.html, /csrf_failed/);
  }
  const res = await forge(page, `/dashboard/projects/${id}/delete`, {});
  assert.equal(res.status, 403);
  const now = await projects();
  assert.ok(now.some((p) => p.id === id));
  assert.ok(!now.some((p) => p.name === 'No token' || p.name === 'Wrong token'));
});
