// @ts-check
/**
 * Single sign-on in the browser (issue 22), through the real test identity
 * provider (tests/idp, panva's oidc-provider; idp.mjs): the server has it
 * as provider `corp` ("Corp SSO"), accounts made just in time in init's
 * organization. A person signs in with the sign-in page's button and lands
 * on the keys page, finds the identity on Sign-in methods, and cannot
 * unlink it (a just-in-time account has no password: the API's
 * `last_sign_in_method`); a person who refuses at the provider ends on a
 * page that shows the refusal, not signed in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, expectAccessible, fixtureWith, newPage, sessionToken } from './harness.mjs';
import { startIdp } from './idp.mjs';
import { alertText } from './members.mjs';

/** @typedef {import('playwright-core').Page} Page */

/** The client at the IdP: one IdP per test file, so a fixed id will do. */
const CLIENT_ID = 'latchkey-browser-tests';
/** Its secret (in latchkey.toml: the server's log must not hold it). */
const CLIENT_SECRET = `browser-sso-secret-${process.pid}-0123456789`;

// The IdP, then the server whose configuration names its issuer and
// init's organization, then its client at the IdP.
const f = fixtureWith({
  start: startIdp,
  server: (idp) => ({
    toml: ({ orgId }) => `[[auth.oidc]]
id = "corp"
display_name = "Corp SSO"
issuer = "${idp.issuer}"
client_id = "${CLIENT_ID}"
client_secret = "${CLIENT_SECRET}"
jit = { org = "${orgId}", role = "member" }
`,
  }),
  ready: async (idp, server) => {
    server.secret(CLIENT_SECRET);
    await idp.registerClient(CLIENT_ID, CLIENT_SECRET, [`${server.base}/v1/auth/oidc/corp/callback`]);
  },
});

/**
 * A user of the IdP who signs in through latchkey's client when the
 * request names nobody (the sign-in page's button names nobody).
 * @param {string} who
 * @param {boolean} [deny] refuses at the provider
 */
async function defaultUser(who, deny = false) {
  const user = {
    sub: `${who}-${process.pid}`,
    email: `${who}.${process.pid}@corp.example`,
    email_verified: true,
    name: `${who[0]?.toUpperCase() ?? ''}${who.slice(1)} Corp`,
    deny,
  };
  await f.companion.addUser(user);
  await f.companion.setDefaultUser(user.sub, CLIENT_ID);
  return user;
}

/**
 * Clicks "Sign in with Corp SSO" on the sign-in page; resolves with
 * latchkey's answer to the provider's redirect back (the callback), once
 * the page it leads to has loaded.
 * @param {Page} page on /dashboard/login
 */
async function signInWithCorp(page) {
  const callback = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/auth/oidc/corp/callback');
  // A link styled as a button: it navigates (to /v1/auth/oidc/corp/start).
  await page.getByRole('link', { name: 'Sign in with Corp SSO', exact: true }).click();
  const answer = await callback;
  await page.waitForLoadState();
  return answer;
}

test('a person signs in with Corp SSO just in time, finds the identity, and cannot unlink their only sign-in method', async (t) => {
  const { base, orgId } = f.server;
  const pat = await defaultUser('pat');
  const page = await newPage(t, f.browser);
  await page.goto(`${base}/dashboard/login`);
  await page.getByRole('link', { name: 'Sign in with Corp SSO', exact: true }).waitFor();
  await expectAccessible(page, 'login, with a provider');

  const callback = await signInWithCorp(page);
  assert.equal(callback.status(), 303, `the callback answered ${callback.status()}`);
  await page.waitForURL(`${base}/dashboard/keys`);
  await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
  const header = page.getByRole('banner');
  const who = ((await header.textContent()) ?? '').replace(/\s+/g, ' ');
  assert.ok(who.includes(`${pat.email} member`), `the header names the person and their role: ${who}`);
  await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();

  // A session of the person made just in time: a member of init's organization.
  const token = await sessionToken(page.context());
  assert.ok(token, 'the sign-in set the session cookie');
  f.server.secret(token);
  const me = await api(base, token).get('/v1/me');
  assert.equal(me.status, 200, JSON.stringify(me.body));
  assert.equal(me.body.data.user.email, pat.email);
  assert.equal(me.body.data.user.displayName, pat.name);
  assert.equal(me.body.data.org.id, orgId);
  assert.equal(me.body.data.role, 'member');

  // Sign-in methods, from the navigation: the identity, and no way to lose it.
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Sign-in methods' }).click();
  await page.waitForURL(`${base}/dashboard/account`);
  await page.getByRole('heading', { name: 'Sign-in methods', level: 1 }).waitFor();
  const identity = () => page.getByRole('row').filter({ has: page.getByRole('cell', { name: pat.sub }) });
  const cells = (await identity().getByRole('cell').allTextContents()).map((c) => c.trim());
  assert.equal(cells[0], 'Corp SSO', `the provider: ${cells.join(' | ')}`);
  assert.equal(cells[1], pat.email, `the email there: ${cells.join(' | ')}`);
  assert.equal(cells[2], pat.sub, `the subject: ${cells.join(' | ')}`);
  await page.getByRole('button', { name: 'Link Corp SSO', exact: true }).waitFor();
  await expectAccessible(page, 'account');

  const [unlinked] = await Promise.all([
    page.waitForResponse(
      (r) => r.request().method() === 'POST' && /^\/dashboard\/account\/identities\/[^/]+\/remove$/.test(new URL(r.url()).pathname),
    ),
    identity().getByRole('button', { name: `Unlink Corp SSO identity ${pat.sub}`, exact: true }).click(),
  ]);
  await page.waitForLoadState();
  assert.equal(unlinked.status(), 409);
  assert.match(await alertText(page), /last_sign_in_method/);
  assert.equal(await identity().count(), 1, 'the identity is still listed');
  await expectAccessible(page, 'account, unlink refused');
  const linked = await api(base, token).get('/v1/me/identities');
  assert.equal(linked.status, 200);
  assert.deepEqual(
    linked.body.data.map((/** @type {any} */ i) => [i.provider, i.subject]),
    [['corp', pat.sub]],
    'the identity stays linked',
  );
});

test('a person who refuses at the provider ends on a page that shows the refusal, not signed in', async (t) => {
  const { base } = f.server;
  const dee = await defaultUser('dee', true);
  const page = await newPage(t, f.browser);
  await page.goto(`${base}/dashboard/login`);
  const callback = await signInWithCorp(page);
  assert.equal(callback.status(), 403, `the callback answered ${callback.status()}`);
  assert.equal(new URL(page.url()).pathname, '/v1/auth/oidc/corp/callback', 'the refusal is the last page');
  assert.match(await alertText(page), /access_denied/);
  assert.match(await alertText(page), /Corp SSO refused the sign-in/);
  await expectAccessible(page, 'sign-in refused at the provider');

  assert.equal(await sessionToken(page.context()), undefined, 'no session cookie');
  await page.goto(`${base}/dashboard/keys`);
  assert.equal(new URL(page.url()).pathname, '/dashboard/login', 'the dashboard sends the browser to sign in');
  // Nobody was made for the person who refused.
  const members = await api(base, f.server.adminKey).get('/v1/members?limit=100');
  assert.equal(members.status, 200);
  assert.ok(
    !members.body.data.some((/** @type {any} */ m) => m.email === dee.email),
    'no account for the person who refused',
  );
});
