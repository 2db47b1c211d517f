// @ts-check
/**
 * Credentials › Connected apps in the browser (issue 23, point 7), through
 * the real test IdP as a GitHub-like OAuth server (idp.mjs): the server's
 * catalog has it as provider `octo` ("Octo"). A person connects an account
 * from the page (latchkey's authorization page, the IdP, the one callback,
 * and back on the page with a notice; Chromium follows the form's redirects
 * only if the page's form-action allows the provider), connects a second
 * one, makes it the default and disconnects it with the confirmation; a
 * member finds no client credentials form and cannot connect for the
 * organization; axe on the page, its dialog and the member's view.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, expectAccessible, fixtureWith, newPage, signIn } from './harness.mjs';
import { startIdp } from './idp.mjs';
import { addMember, signInAsMember } from './members.mjs';

/** @typedef {import('playwright-core').Page} Page */

const ORG = 'Connected Apps Tests';
/** latchkey's client at the IdP: one IdP per test file, so a fixed id will do. */
const CLIENT_ID = 'latchkey-browser-octo';
/** Its secret (in latchkey.toml: the server's log must not hold it). */
const CLIENT_SECRET = `browser-octo-secret-${process.pid}-0123456789`;

// The IdP, the server whose catalog names its endpoints, then latchkey's
// client at the IdP (its callback known now).
const f = fixtureWith({
  start: startIdp,
  server: (idp) => ({
    org: ORG,
    toml: `[[oauth.providers]]
id = "octo"
display_name = "Octo"
authorize_url = "${idp.oauth.authorize}"
token_url = "${idp.oauth.token}"
revocation_url = "${idp.oauth.revocation}"
userinfo_url = "${idp.oauth.user}"
userinfo_id_field = "sub"
userinfo_label_field = "preferred_username"
scopes = ["repo", "read:user"]
client_id = "${CLIENT_ID}"
client_secret = "${CLIENT_SECRET}"
`,
  }),
  ready: async (idp, server) => {
    server.secret(CLIENT_SECRET);
    await idp.registerOAuthClient(CLIENT_ID, CLIENT_SECRET, [`${server.base}/v1/oauth/callback`]);
  },
});

let serial = 0;

/**
 * An account at the IdP, who signs in on latchkey's authorization requests
 * from now on: its label in latchkey (the IdP's preferred_username, the email).
 * @param {string} who
 */
async function account(who) {
  const sub = `${who}-${process.pid}-${serial++}`;
  const email = `${sub}@octo.example`;
  await f.companion.addUser({ sub, email, email_verified: true, name: who });
  await f.companion.setDefaultUser(sub, CLIENT_ID);
  return email;
}

/**
 * The row of the account `label` in a table.
 * @param {import('playwright-core').Locator} table
 * @param {string} label
 */
const row = (table, label) =>
  table.getByRole('row').filter({ has: table.page().getByRole('cell', { name: label, exact: true }) });

/**
 * Clicks "Connect Octo" and waits until the callback has sent the browser
 * back to the page with its notice.
 * @param {Page} page on the Connected apps page
 */
async function connectOcto(page) {
  await page.getByRole('region', { name: 'Octo', exact: true }).getByRole('button', { name: 'Connect Octo', exact: true }).click();
  await page.waitForURL(/\/dashboard\/connected-apps\?done=connected&connection=ocn_/);
}

/**
 * The connections a session token sees, by account label.
 * @param {string} token
 * @returns {Promise<Map<string, any>>}
 */
async function connections(token) {
  const { status, body } = await api(f.server.base, token).get('/v1/oauth/connections');
  assert.equal(status, 200, JSON.stringify(body));
  return new Map(body.data.map((/** @type {any} */ c) => [c.accountLabel, c]));
}

test('a person connects two accounts from the page, makes the second the default and disconnects it', async (t) => {
  const { base } = f.server;
  const person = await addMember(f.server, 'Cora Connect');
  const page = await newPage(t, f.browser);
  await signInAsMember(page, f.server, person, ORG);
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Connected apps' }).click();
  await page.waitForURL(`${base}/dashboard/connected-apps`);
  await page.getByRole('heading', { name: 'Connected apps', level: 1 }).waitFor();
  await page.getByText('You have not connected an account yet').waitFor();
  await expectAccessible(page, '/dashboard/connected-apps (empty)');

  const first = await account('first');
  await connectOcto(page);
  assert.equal(await page.getByRole('status').textContent(), `Connected Octo account ${first}.`);
  const yours = page.getByRole('table', { name: 'Your connections' });
  const cells = (await row(yours, first).getByRole('cell').allTextContents()).map((c) => c.replace(/\s+/g, ' ').trim());
  assert.deepEqual([cells[0], cells[1], cells[2], cells[4]], ['Octo', first, '✓ Default', 'Active'], cells.join(' | '));
  assert.deepEqual((cells[3] ?? '').split(' ').sort(), ['read:user', 'repo'], 'granted: the default scopes');
  // The connection is in the organization the page acts in, not the person's own.
  assert.equal((await connections(person.token)).size, 0);

  const second = await account('second');
  await connectOcto(page);
  assert.equal(await page.getByRole('status').textContent(), `Connected Octo account ${second}.`);
  assert.equal(await row(yours, first).getByRole('button', { name: 'Make default' }).count(), 0);
  await expectAccessible(page, '/dashboard/connected-apps (two connections)');
  await row(yours, second).getByRole('button', { name: 'Make default', exact: true }).click();
  await page.waitForURL(/\?done=default$/);
  assert.equal(await page.getByRole('status').textContent(), 'Default connection set.');
  await row(yours, first).getByRole('button', { name: 'Make default', exact: true }).waitFor();
  assert.match((await row(yours, second).textContent()) ?? '', /✓ Default/);

  await row(yours, second).getByRole('button', { name: 'Disconnect', exact: true }).click();
  const confirm = page.getByRole('dialog', { name: `Disconnect Octo account ${second}?` });
  await confirm.waitFor();
  await expectAccessible(page, '/dashboard/connected-apps (disconnect dialog)');
  await confirm.getByRole('button', { name: 'Disconnect', exact: true }).click();
  await page.waitForURL(/\?done=disconnected$/);
  assert.equal(await page.getByRole('status').textContent(), 'Disconnected.');
  assert.equal(await row(yours, second).count(), 0);
  assert.match((await row(yours, first).textContent()) ?? '', /✓ Default/, 'the other became the default');

  // The API agrees (the admin lists every member's).
  const all = await api(base, f.server.adminKey).get('/v1/oauth/connections?allOrg=true');
  const theirs = all.body.data.filter((/** @type {any} */ c) => c.ownerUserId === person.userId);
  assert.deepEqual(
    theirs.map((/** @type {any} */ c) => [c.accountLabel, c.isDefault]),
    [[first, true]],
  );
  const actions = (await api(base, f.server.adminKey).get('/v1/audit-events?limit=100')).body.data.map(
    (/** @type {any} */ e) => e.action,
  );
  for (const a of ['oauth.connection.connect', 'oauth.connection.set_default', 'oauth.connection.delete']) {
    assert.ok(actions.includes(a), a);
  }
});

test('a member finds no client credentials form and cannot connect for the organization; an admin can', async (t) => {
  const member = await addMember(f.server, 'Milo Member');
  const page = await newPage(t, f.browser);
  await signInAsMember(page, f.server, member, ORG);
  await page.goto(`${f.server.base}/dashboard/connected-apps`);
  const octo = page.getByRole('region', { name: 'Octo', exact: true });
  await octo.getByRole('button', { name: 'Connect Octo', exact: true }).waitFor();
  const shared = octo.getByRole('button', { name: 'Connect for the organization', exact: true });
  assert.ok(await shared.isDisabled());
  assert.equal(
    await page.locator(`#${await shared.getAttribute('aria-describedby')}`).textContent(),
    "the organization's shared connections are made by admins",
  );
  assert.equal(await page.getByRole('heading', { name: 'Client credentials' }).count(), 0);
  assert.equal(await page.locator('input[type="password"]').count(), 0);
  assert.ok(await page.getByLabel("Every member's connections").isDisabled());
  await expectAccessible(page, '/dashboard/connected-apps (member)');

  const admin = await newPage(t, f.browser);
  await signIn(admin, f.server.base, f.server.adminEmail, f.server.adminPassword);
  await admin.goto(`${f.server.base}/dashboard/connected-apps?connect=octo`);
  await admin.getByRole('heading', { name: 'Client credentials', level: 2 }).waitFor();
  const client = admin.getByRole('region', { name: 'Octo client', exact: true });
  assert.equal(await client.getByLabel('Client secret').getAttribute('type'), 'password');
  assert.equal(await client.getByLabel('Client secret').inputValue(), '');
  assert.equal(await client.getByText("The server's client.").count(), 1);
  const pointed = admin.getByRole('region', { name: 'Octo', exact: true });
  assert.equal(
    await pointed.getByRole('status').textContent(),
    'A tool needs a connection to Octo: connect it (again) here.',
  );
  assert.ok(await pointed.getByRole('button', { name: 'Connect for the organization', exact: true }).isEnabled());
  await expectAccessible(admin, '/dashboard/connected-apps?connect=octo (admin)');

  // The admin connects for the organization: the member sees it, without its controls.
  const shared2 = await account('team');
  await pointed.getByRole('button', { name: 'Connect for the organization', exact: true }).click();
  await admin.waitForURL(/\/dashboard\/connected-apps\?done=connected&connection=ocn_/);
  await row(admin.getByRole('table', { name: 'Organization connections' }), shared2).waitFor();
  await page.reload();
  const theirs = row(page.getByRole('table', { name: 'Organization connections' }), shared2);
  assert.ok(await theirs.getByRole('button', { name: 'Disconnect', exact: true }).isDisabled());
  const id = new URL(admin.url()).searchParams.get('connection');
  assert.equal((await api(f.server.base, f.server.adminKey).delete(`/v1/oauth/connections/${id}`)).status, 204);
});
