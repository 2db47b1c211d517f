// @ts-check
/**
 * Organization › Team and the invitation link: an admin invites through the
 * dialog and reads the link once; the invited person opens it, creates an
 * account (or signs in with theirs) and lands in the organization, seeing
 * only their own keys; roles change, members are removed, invitations are
 * revoked, and the last admin is protected. A member sees the admin's
 * controls disabled with the API's reason, and their forged POSTs are
 * refused with the API's code; so are a POST without the CSRF token and
 * another organization's ids. The organization switcher switches. axe runs
 * on every page and open dialog.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, csrfField, expectAccessible, fixture, newPage, sessionToken, signIn } from './harness.mjs';
import { alertText, forge, freshEmail, invite, joined, newPassword } from './members.mjs';

/** @typedef {import('node:test').TestContext} TestContext */
/** @typedef {import('playwright-core').Page} Page */

const f = fixture();

/** The organization `latchkey init` made in the harness. */
const ORG = 'Browser Tests';

/** @param {TestContext} t */
async function adminPage(t) {
  const page = await newPage(t, f.browser, { permissions: ['clipboard-read', 'clipboard-write'] });
  await signIn(page, f.server.base, f.server.adminEmail, f.server.adminPassword);
  await page.goto(`${f.server.base}/dashboard/team`);
  return page;
}

/** The admin's API client (their `*` key). */
const adminApi = () => api(f.server.base, f.server.adminKey);

/** The organization's members, by email: their role. */
async function roles() {
  const { status, body } = await adminApi().get('/v1/members?limit=100');
  assert.equal(status, 200);
  return new Map(body.data.map((/** @type {any} */ m) => [m.email, m.role]));
}

/** The emails of the pending invitations. */
async function pending() {
  const { status, body } = await adminApi().get('/v1/invitations?limit=100');
  assert.equal(status, 200);
  return body.data.map((/** @type {any} */ i) => i.email);
}

/**
 * Submits the form of `button` and waits for the POST's answer and the page
 * it leads to.
 * @param {Page} page
 * @param {import('playwright-core').Locator} button
 * @param {string} path the form's action
 */
async function submit(page, button, path) {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === path),
    button.click(),
  ]);
  await page.waitForLoadState();
  return res;
}

/**
 * The notice after a change (Post/Redirect/Get).
 * @param {Page} page
 * @param {string} text
 */
async function notice(page, text) {
  await page.getByRole('status').filter({ hasText: text }).waitFor();
}

test('an admin invites through the dialog and reads the link once; the person creates an account and sees only their own keys', async (t) => {
  const { base } = f.server;
  const page = await adminPage(t);
  await page.getByRole('heading', { name: 'Team', level: 1 }).waitFor();
  // The admin is listed with their role, and the empty list of invitations
  // offers the action and the CLI line.
  const me = page.getByRole('row', { name: new RegExp(f.server.adminEmail) });
  assert.equal(await me.getByRole('combobox').inputValue(), 'admin');
  await page.getByText('latchkey member invite someone@example.com --role member').waitFor();
  await expectAccessible(page, 'team');

  // An admin's key, made before the member joins: members never see it.
  const adminKey = await adminApi().post('/v1/api-keys', { name: 'Admin deploy key', scopes: ['devboxes:read'] });
  assert.equal(adminKey.status, 201);
  f.server.secret(adminKey.body.data.key);

  const email = freshEmail('mia');
  await page.getByRole('button', { name: 'Invite member' }).click();
  const dialog = page.getByRole('dialog', { name: 'Invite member' });
  await dialog.getByLabel('Email').fill(email);
  await dialog.getByLabel('Role').selectOption('member');
  await expectAccessible(page, 'team, Invite member dialog');
  const created = await submit(page, dialog.getByRole('button', { name: 'Send invitation' }), '/dashboard/team/invitations');
  assert.equal(created.status(), 201);

  // The link, shown once in a dialog opened on load.
  const shown = page.getByRole('dialog', { name: `Invitation link for ${email}` });
  await shown.waitFor();
  const link = ((await shown.getByText(/\/dashboard\/join#lki_/).textContent()) ?? '').trim();
  assert.match(link, new RegExp(`^${base}/dashboard/join#lki_\\w+$`));
  const token = link.slice(link.indexOf('#') + 1);
  f.server.secret(token);
  await expectAccessible(page, 'team, invitation link dialog');
  // Closing before copying asks first.
  await shown.getByRole('button', { name: 'Done' }).click();
  await shown.getByRole('button', { name: 'Go back' }).click();
  await shown.getByRole('button', { name: 'Copy' }).click();
  await shown.getByRole('status').filter({ hasText: 'Copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
  await shown.getByRole('button', { name: 'Done' }).click();
  await shown.waitFor({ state: 'hidden' });

  // Once: the pending invitation is listed, its link is not.
  await page.goto(`${base}/dashboard/team`);
  await page.getByRole('row', { name: new RegExp(email) }).getByRole('button', { name: 'Revoke' }).waitFor();
  assert.ok(!(await page.content()).includes(token), 'the token is on the page again');
  assert.deepEqual(await pending(), [email]);

  // The invited person opens the link: the token leaves the address bar.
  const guest = await newPage(t, f.browser);
  await guest.goto(link);
  assert.equal(guest.url(), `${base}/dashboard/join`, 'the fragment is dropped from the address');
  const signUp = guest.getByRole('form', { name: 'Create your account' });
  await expectAccessible(guest, 'join, visitor');
  await signUp.getByLabel('Name').fill('Mia Member');
  const password = newPassword();
  f.server.secret(password);
  await signUp.getByLabel('Password').fill(password);
  const joinedRes = await submit(guest, signUp.getByRole('button', { name: 'Create account and join' }), '/dashboard/join/signup');
  assert.equal(joinedRes.status(), 303);
  await guest.waitForURL(`${base}/dashboard/keys`);

  // She is a member of this organization, and of no other.
  const session = await sessionToken(guest.context());
  assert.ok(session);
  f.server.secret(session);
  const mine = api(base, session);
  const whoami = await mine.get('/v1/me');
  assert.equal(whoami.body.data.org.name, ORG);
  assert.equal(whoami.body.data.role, 'member');
  assert.equal(whoami.body.data.user.email, email);
  assert.equal(await guest.getByLabel('Organization', { exact: true }).count(), 0, 'one organization: no switcher');
  assert.equal((await roles()).get(email), 'member');
  assert.deepEqual(await pending(), [], 'the invitation is used up');

  // Her own key is listed; the admin's is not.
  const own = await mine.post('/v1/api-keys', { name: 'Mia laptop key', scopes: ['devboxes:read'] });
  assert.equal(own.status, 201);
  f.server.secret(own.body.data.key);
  await guest.goto(`${base}/dashboard/keys`);
  await guest.getByText('Mia laptop key', { exact: true }).waitFor();
  assert.equal(await guest.getByText('Admin deploy key', { exact: true }).count(), 0);

  // The link works once.
  const again = await newPage(t, f.browser);
  await again.goto(link);
  const form = again.getByRole('form', { name: 'Create your account' });
  await form.getByLabel('Name').fill('Someone Else');
  await form.getByLabel('Password').fill(newPassword());
  const used = await submit(again, form.getByRole('button', { name: 'Create account and join' }), '/dashboard/join/signup');
  assert.equal(used.status(), 404);
  const refusal = await alertText(again);
  assert.match(refusal, /invitation not found/);
  assert.match(refusal, /not_found/);
  await expectAccessible(again, 'join, refused');
});

test('a member sees the admin controls disabled with the reason, and their forged POSTs are refused with the API code', async (t) => {
  const { base } = f.server;
  const member = await joined(f.server, 'milo');
  const page = await newPage(t, f.browser);
  await signIn(page, f.server.base, member.email, member.password);
  await page.goto(`${base}/dashboard/team`);

  const reasonOf = async (/** @type {import('playwright-core').Locator} */ control) => {
    assert.equal(await control.isDisabled(), true, 'disabled');
    const id = await control.getAttribute('aria-describedby');
    assert.ok(id, 'described by its reason');
    return (await page.locator(`[id="${id}"]`).textContent()) ?? '';
  };
  assert.match(await reasonOf(page.getByRole('button', { name: 'Invite member' })), /needs the admin role/);
  const adminRow = page.getByRole('row', { name: new RegExp(f.server.adminEmail) });
  assert.match(await reasonOf(adminRow.getByRole('combobox')), /needs the admin role/);
  assert.match(await reasonOf(adminRow.getByRole('button', { name: 'Change role' })), /needs the admin role/);
  assert.match(await reasonOf(adminRow.getByRole('button', { name: 'Remove' })), /needs the admin role/);
  // Leaving is theirs to do (the API lets members remove themselves).
  const ownRow = page.getByRole('row', { name: new RegExp(member.email) });
  assert.equal(await ownRow.getByRole('button', { name: 'Leave' }).isDisabled(), false);
  await page.getByText('Only admins see pending invitations.').waitFor();
  await expectAccessible(page, 'team, member');

  // The same actions forged with the member's own, valid CSRF token.
  const csrf = await csrfField(page);
  const victim = await invite(f.server, freshEmail('victim'));
  const before = await pending();
  const attempts = [
    ['/dashboard/team/invitations', { csrf, email: freshEmail('friend'), role: 'admin' }],
    [`/dashboard/team/members/${f.server.adminUserId}/role`, { csrf, role: 'member' }],
    [`/dashboard/team/members/${f.server.adminUserId}/remove`, { csrf }],
    [`/dashboard/team/invitations/${victim.id}/revoke`, { csrf }],
  ];
  for (const [path, form] of /** @type {[string, Record<string, string>][]} */ (attempts)) {
    const res = await forge(page, path, form);
    assert.equal(res.status, 403, `${path}: ${res.status}`);
    assert.match(res.html, /forbidden/, `${path}: the API's code`);
    assert.match(res.html, /this action needs the admin role/, `${path}: the API's message`);
  }
  assert.deepEqual(await pending(), before, 'no invitation made or revoked');
  assert.equal((await roles()).get(f.server.adminEmail), 'admin', 'the admin is still one');
  // (A forged revoke of another's key, with the member's token: keys.test.mjs.)
});

test('a POST without the CSRF token, and ids of another organization, change nothing', async (t) => {
  const { base } = f.server;
  const page = await adminPage(t);
  const before = await pending();
  /** @type {Record<string, string>[]} */
  const forms = [
    { email: freshEmail('nocsrf'), role: 'member' },
    { csrf: 'forged', email: freshEmail('x'), role: 'member' },
  ];
  for (const form of forms) {
    const res = await forge(page, '/dashboard/team/invitations', form);
    assert.equal(res.status, 403);
    assert.match(res.html, /csrf_failed/);
  }
  assert.deepEqual(await pending(), before);

  // Someone of another organization, and an invitation of theirs.
  const outsider = await api(base).post('/v1/auth/signup', {
    email: freshEmail('otto'),
    password: 'outsider-password-1',
    displayName: 'Otto',
    orgName: 'Elsewhere Inc',
  });
  assert.equal(outsider.status, 201);
  f.server.secret(outsider.body.data.token);
  const theirs = await api(base, outsider.body.data.token).post('/v1/invitations', { email: freshEmail('z'), role: 'member' });
  assert.equal(theirs.status, 201);
  f.server.secret(theirs.body.data.token);

  const csrf = await csrfField(page);
  for (const [path, form] of /** @type {[string, Record<string, string>][]} */ ([
    [`/dashboard/team/members/${outsider.body.data.user.id}/role`, { csrf, role: 'admin' }],
    [`/dashboard/team/members/${outsider.body.data.user.id}/remove`, { csrf }],
    [`/dashboard/team/invitations/${theirs.body.data.id}/revoke`, { csrf }],
  ])) {
    const res = await forge(page, path, form);
    assert.equal(res.status, 404, path);
    assert.match(res.html, /not_found/, path);
  }
  const elsewhere = await api(base, outsider.body.data.token).get('/v1/invitations');
  assert.equal(elsewhere.body.data.length, 1, 'their invitation is still pending');
  // Nothing changed for the outsider either.
  const outsiderMe = await api(base, outsider.body.data.token).get('/v1/me');
  assert.equal(outsiderMe.body.data.role, 'admin');
  assert.ok(!(await roles()).has(outsider.body.data.user.email));
});

test('the last admin can be neither demoted nor removed, and the page says why', async (t) => {
  const { base } = f.server;
  const page = await adminPage(t);
  const me = page.getByRole('row', { name: new RegExp(f.server.adminEmail) });
  await me.getByRole('combobox').selectOption('member');
  const demoted = await submit(page, me.getByRole('button', { name: 'Change role' }), `/dashboard/team/members/${f.server.adminUserId}/role`);
  assert.equal(demoted.status(), 409);
  const text = await alertText(page);
  assert.match(text, /an organization needs an admin/);
  assert.match(text, /last_admin/);
  assert.match(text, new RegExp((await demoted.headerValue('x-request-id')) ?? 'no request id'));

  await page.goto(`${base}/dashboard/team`);
  await me.getByRole('button', { name: 'Leave' }).click();
  const leave = page.getByRole('dialog', { name: `Leave ${ORG}?` });
  await expectAccessible(page, 'team, removal dialog');
  const removed = await submit(page, leave.getByRole('button', { name: 'Leave' }), `/dashboard/team/members/${f.server.adminUserId}/remove`);
  assert.equal(removed.status(), 409);
  // The dialog is open again, with the API's message in it.
  assert.match(await alertText(leave), /an organization needs an admin.*last_admin/);
  await expectAccessible(page, 'team, removal refused');
  await leave.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await roles()).get(f.server.adminEmail), 'admin');
});

test('an admin changes a role, removes a member and revokes a pending invitation', async (t) => {
  const { base } = f.server;
  const rita = await joined(f.server, 'rita');
  const rex = freshEmail('rex');
  const invitation = await invite(f.server, rex, 'admin');
  const page = await adminPage(t);

  const row = page.getByRole('row', { name: new RegExp(rita.email) });
  await row.getByRole('combobox').selectOption('admin');
  const changed = await submit(page, row.getByRole('button', { name: 'Change role' }), `/dashboard/team/members/${rita.userId}/role`);
  assert.equal(changed.status(), 303);
  await notice(page, 'Role changed.');
  assert.equal((await roles()).get(rita.email), 'admin');
  assert.equal(await row.getByRole('combobox').inputValue(), 'admin');
  // Her session is an admin's now.
  assert.equal((await api(base, rita.token).get('/v1/invitations')).status, 200);

  await page.getByRole('row', { name: new RegExp(rex) }).getByRole('button', { name: 'Revoke' }).click();
  await notice(page, 'Invitation revoked.');
  assert.equal(await page.getByRole('row', { name: new RegExp(rex) }).count(), 0);
  assert.ok(!(await pending()).includes(rex));
  const late = await api(base).post('/v1/invitations/signup', { token: invitation.token, displayName: 'Rex', password: newPassword() });
  assert.equal(late.status, 404, 'a revoked invitation signs nobody up');

  await row.getByRole('button', { name: 'Remove' }).click();
  const confirm = page.getByRole('dialog', { name: `Remove ${rita.name}?` });
  const gone = await submit(page, confirm.getByRole('button', { name: 'Remove' }), `/dashboard/team/members/${rita.userId}/remove`);
  assert.equal(gone.status(), 303);
  await notice(page, 'Member removed.');
  assert.ok(!(await roles()).has(rita.email));
  assert.equal(await page.getByRole('row', { name: new RegExp(rita.email) }).count(), 0);
});

test('a person with an account signs in through the link, joins, and switches organizations', async (t) => {
  const { base } = f.server;
  // Ola has an organization of her own.
  const email = freshEmail('ola');
  const password = newPassword();
  f.server.secret(password);
  const own = await api(base).post('/v1/auth/signup', { email, password, displayName: 'Ola', orgName: 'Ola Studio' });
  assert.equal(own.status, 201);
  f.server.secret(own.body.data.token);
  const { token } = await invite(f.server, email, 'member');
  const link = `${base}/dashboard/join#${token}`;

  // A wrong code first, typed by hand: the API's error, the form kept.
  const page = await newPage(t, f.browser);
  await page.goto(`${base}/dashboard/join`);
  const typed = page.getByRole('form', { name: 'Already have an account?' });
  await typed.getByLabel('Invitation code').fill('lki_not_a_real_invitation');
  await typed.getByLabel('Email').fill(email);
  await typed.getByLabel('Password').fill('a-wrong-password');
  const wrong = await submit(page, typed.getByRole('button', { name: 'Sign in and join' }), '/dashboard/join/login');
  assert.equal(wrong.status(), 401);
  assert.match(await alertText(page), /Wrong email or password/);

  await page.goto(link);
  const form = page.getByRole('form', { name: 'Already have an account?' });
  assert.equal(await form.getByLabel('Invitation code').isHidden(), true, 'the code came with the link');
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Password').fill(password);
  const res = await submit(page, form.getByRole('button', { name: 'Sign in and join' }), '/dashboard/join/login');
  assert.equal(res.status(), 303);
  await page.waitForURL(`${base}/dashboard/keys`);
  const session = await sessionToken(page.context());
  assert.ok(session);
  f.server.secret(session);

  // Two organizations: the switcher shows, in the one joined.
  const switcher = page.getByLabel('Organization', { exact: true });
  const selected = () => switcher.evaluate((s) => /** @type {HTMLSelectElement} */ (s).selectedOptions[0]?.textContent?.trim());
  assert.equal(await selected(), ORG);
  await expectAccessible(page, 'keys, organization switcher');
  await page.goto(`${base}/dashboard/team`);
  assert.equal(await page.getByRole('button', { name: 'Invite member' }).isDisabled(), true, 'a member here');
  await switcher.selectOption({ label: 'Ola Studio' });
  await submit(page, page.getByRole('button', { name: 'Switch' }), '/dashboard/org');
  await page.waitForURL(`${base}/dashboard/keys`);
  assert.equal(await selected(), 'Ola Studio');
  await page.goto(`${base}/dashboard/team`);
  assert.equal(await page.getByRole('button', { name: 'Invite member' }).isDisabled(), false, 'an admin there');
  assert.equal((await api(base, session).get('/v1/me')).body.data.org.name, 'Ola Studio');
  await switcher.selectOption({ label: ORG });
  await submit(page, page.getByRole('button', { name: 'Switch' }), '/dashboard/org');
  assert.equal(await selected(), ORG);

  // Signed in, the link's page accepts with the session: a used link, and
  // one for another address, are refused with the API's errors.
  await page.goto(link);
  const accept = page.getByRole('form', { name: 'Accept the invitation' });
  await expectAccessible(page, 'join, signed in');
  const used = await submit(page, accept.getByRole('button', { name: 'Join organization' }), '/dashboard/join/accept');
  assert.equal(used.status(), 404);
  assert.match(await alertText(page), /invitation not found.*not_found/);
  const other = await invite(f.server, freshEmail('somebody'));
  await page.goto(`${base}/dashboard/join#${other.token}`);
  const foreign = await submit(page, accept.getByRole('button', { name: 'Join organization' }), '/dashboard/join/accept');
  assert.equal(foreign.status(), 403);
  assert.match(await alertText(page), /this invitation is for another email address.*forbidden/);

  // She leaves the organization she joined, and acts in her own again.
  await page.goto(`${base}/dashboard/team`);
  const mine = page.getByRole('row', { name: new RegExp(email) });
  await mine.getByRole('button', { name: 'Leave' }).click();
  const confirm = page.getByRole('dialog', { name: `Leave ${ORG}?` });
  const left = await submit(page, confirm.getByRole('button', { name: 'Leave' }), `/dashboard/team/members/${own.body.data.user.id}/remove`);
  assert.equal(left.status(), 303);
  await page.waitForURL(`${base}/dashboard/keys`);
  assert.ok(!(await roles()).has(email));
  assert.equal(await page.getByLabel('Organization', { exact: true }).count(), 0, 'one organization left');
  assert.equal((await api(base, session).get('/v1/me')).body.data.org.name, 'Ola Studio');
});

test('without JavaScript, the invitation is made, read and used through plain forms', async (t) => {
  const { base } = f.server;
  const admin = await newPage(t, f.browser, { javaScriptEnabled: false });
  await signIn(admin, base, f.server.adminEmail, f.server.adminPassword);
  await admin.goto(`${base}/dashboard/team`);
  // The Invite member link leads to its dialog (#invite), which the stylesheet shows.
  await admin.getByRole('button', { name: 'Invite member' }).click();
  const dialog = admin.getByRole('dialog', { name: 'Invite member' });
  const email = freshEmail('noscript');
  await dialog.getByLabel('Email').fill(email);
  const made = await submit(admin, dialog.getByRole('button', { name: 'Send invitation' }), '/dashboard/team/invitations');
  assert.equal(made.status(), 201);
  const shown = admin.getByRole('dialog', { name: `Invitation link for ${email}` });
  const link = ((await shown.getByText(/\/dashboard\/join#lki_/).textContent()) ?? '').trim();
  const token = link.slice(link.indexOf('#') + 1);
  assert.match(token, /^lki_\w+$/);
  f.server.secret(token);

  // Without script the code stays in the address: the person pastes it.
  const guest = await newPage(t, f.browser, { javaScriptEnabled: false });
  await guest.goto(link);
  const form = guest.getByRole('form', { name: 'Create your account' });
  const code = form.getByLabel('Invitation code');
  assert.equal(await code.inputValue(), '');
  await code.fill(token);
  await form.getByLabel('Name').fill('No Script');
  const password = newPassword();
  f.server.secret(password);
  await form.getByLabel('Password').fill(password);
  const res = await submit(guest, form.getByRole('button', { name: 'Create account and join' }), '/dashboard/join/signup');
  assert.equal(res.status(), 303);
  await guest.waitForURL(`${base}/dashboard/keys`);
  assert.equal((await roles()).get(email), 'member');
});
