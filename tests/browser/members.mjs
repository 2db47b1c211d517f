// @ts-check
/**
 * People besides the admin, for the tests of what a member may and may not
 * do in the dashboard, and a little more of the pages' common ground: the
 * HTML a page answered, and posting a form the way a forger would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { api, signIn } from './harness.mjs';

/** @typedef {import('./harness.mjs').Server} Server */
/** @typedef {import('playwright-core').Page} Page */
/** @typedef {import('playwright-core').APIResponse} APIResponse */

/**
 * @typedef {object} Person
 * @property {string} email
 * @property {string} password
 * @property {string} displayName
 * @property {string} userId
 * @property {string} ownOrgId the organization their sign-up made: another organization than the server's
 * @property {string} token a session of theirs through the JSON API, acting in their own organization
 */

/**
 * Signs a person up (which gives them an organization of their own) and
 * makes them a member of the server's organization with `role`, through
 * an invitation from the admin that they accept.
 * @param {Server} server
 * @param {string} displayName
 * @param {'member' | 'admin'} [role]
 * @returns {Promise<Person>}
 */
export async function addMember(server, displayName, role = 'member') {
  const email = `${displayName.toLowerCase().replace(/[^a-z0-9]+/g, '.')}.${randomBytes(3).toString('hex')}@example.com`;
  const password = `pw-${randomBytes(12).toString('base64url')}`;
  server.secret(password);
  const up = await api(server.base).post('/v1/auth/signup', {
    email,
    password,
    displayName,
    orgName: `${displayName}'s own`,
  });
  assert.equal(up.status, 201, `sign-up answered ${up.status}: ${JSON.stringify(up.body)}`);
  const token = up.body.data.token;
  server.secret(token);
  const invited = await api(server.base, server.adminKey).post('/v1/invitations', { email, role });
  assert.equal(invited.status, 201, `invitation answered ${invited.status}: ${JSON.stringify(invited.body)}`);
  server.secret(invited.body.data.token);
  const accepted = await api(server.base, token).post('/v1/invitations/accept', { token: invited.body.data.token });
  assert.equal(accepted.status, 200, `accepting answered ${accepted.status}: ${JSON.stringify(accepted.body)}`);
  return { email, password, displayName, userId: up.body.data.user.id, ownOrgId: up.body.data.org.id, token };
}

/**
 * Signs `person` in through the form and, when the sign-in landed in
 * another of their organizations, switches to the server's with the
 * header's organization switcher.
 * @param {Page} page
 * @param {Server} server
 * @param {Person} person
 * @param {string} orgName the server's organization's name
 */
export async function signInAsMember(page, server, person, orgName) {
  await signIn(page, server.base, person.email, person.password);
  const switcher = page.getByLabel('Organization', { exact: true });
  const current = await switcher.evaluate((el) => {
    const select = /** @type {HTMLSelectElement} */ (el);
    return select.options[select.selectedIndex]?.text;
  });
  if (current !== orgName) {
    await switcher.selectOption({ label: orgName });
    await page.getByRole('button', { name: 'Switch', exact: true }).click();
    await page.waitForURL(`${server.base}/dashboard/keys`);
  }
  assert.equal(
    await switcher.evaluate((el) => {
      const select = /** @type {HTMLSelectElement} */ (el);
      return select.options[select.selectedIndex]?.text;
    }),
    orgName,
  );
}

/**
 * Posts a form from the page's browser context (its cookies: the signed-in
 * person), as a forger who got hold of the page's CSRF token would: the
 * dashboard's own controls are not used.
 * @param {Page} page
 * @param {string} path
 * @param {Record<string, string>} fields
 * @returns {Promise<{ status: number, html: string }>}
 */
export async function forge(page, path, fields) {
  const base = new URL(page.url()).origin;
  const res = await page.request.post(`${base}${path}`, { form: fields, maxRedirects: 0 });
  return { status: res.status(), html: await res.text() };
}

/**
 * The problem a page (or a dialog of it) shows (`role="alert"`),
 * whitespace collapsed.
 * @param {Page | import('playwright-core').Locator} page
 */
export async function alertText(page) {
  const text = await page.getByRole('alert').first().textContent();
  return (text ?? '').replace(/\s+/g, ' ').trim();
}

/**
 * @typedef {object} Document
 * @property {string} method the request's method
 * @property {string} url
 * @property {number} status
 * @property {string} html what the server answered
 */

/**
 * Records every HTML document the page is answered with from now on (not
 * redirects), for checks of where a secret appears; the returned function
 * resolves to those seen so far. Each document is held at the response stage
 * (CDP's Fetch domain) until its body is read, so the next navigation can never
 * discard a body before it is recorded.
 * @param {Page} page
 * @returns {Promise<() => Promise<Document[]>>}
 */
export async function recordDocuments(page) {
  const cdp = await page.context().newCDPSession(page);
  /** @type {Promise<Document | undefined>[]} */
  const pending = [];
  cdp.on('Fetch.requestPaused', (e) => {
    const status = e.responseStatusCode ?? 0;
    const read = async () => {
      try {
        if (status >= 300 && status < 400) return undefined;
        const { body, base64Encoded } = await cdp.send('Fetch.getResponseBody', { requestId: e.requestId });
        const html = base64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
        return { method: e.request.method, url: e.request.url, status, html };
      } finally {
        await cdp.send('Fetch.continueRequest', { requestId: e.requestId }).catch(() => {});
      }
    };
    pending.push(read());
  });
  await cdp.send('Fetch.enable', { patterns: [{ urlPattern: '*', resourceType: 'Document', requestStage: 'Response' }] });
  return async () => (await Promise.all(pending)).filter((d) => d !== undefined);
}

/**
 * The actions the dashboard's Audit log lists (its first page, newest
 * first), for an admin's page; with `action`, through the page's filter.
 * @param {Page} page
 * @param {string} base
 * @param {string} [action]
 * @returns {Promise<string[]>}
 */
export async function auditLogActions(page, base, action) {
  const url = new URL('/dashboard/audit', base);
  if (action) url.searchParams.set('action', action);
  await page.goto(url.toString());
  await page.getByRole('heading', { name: 'Audit log' }).waitFor();
  const events = page.getByRole('table').getByRole('row').filter({ has: page.getByRole('cell') });
  return (await events.getByRole('link').allTextContents()).map((a) => a.trim());
}

/** A password of the length the API asks for; the caller registers it as a secret. */
export function newPassword() {
  return `pw-${randomBytes(12).toString('base64url')}`;
}

let serial = 0;

/**
 * An address no other test of the file uses.
 * @param {string} who
 */
export function freshEmail(who) {
  serial += 1;
  return `${who}-${process.pid}-${serial}@example.com`;
}

/**
 * `POST /v1/invitations` as the server's admin: the invitation's id and
 * token (registered as a secret: the server's log must not hold it).
 * @param {Server} server
 * @param {string} email
 * @param {'member' | 'admin'} [role]
 */
export async function invite(server, email, role = 'member') {
  const { status, body } = await api(server.base, server.adminKey).post('/v1/invitations', { email, role });
  assert.equal(status, 201, `invite ${email}: ${JSON.stringify(body)}`);
  server.secret(body.data.token);
  return { id: /** @type {string} */ (body.data.id), token: /** @type {string} */ (body.data.token) };
}

/**
 * @typedef {object} Invitee
 * @property {string} email
 * @property {string} name their display name
 * @property {string} password
 * @property {string} userId
 * @property {string} token a session of theirs (from the sign-up), acting in the server's organization
 */

/**
 * Someone invited with `role` who signed up through the invitation
 * (`POST /v1/invitations/signup`): a member of the server's organization
 * and of no other.
 * @param {Server} server
 * @param {string} who a word to make their address and name from
 * @param {'member' | 'admin'} [role]
 * @returns {Promise<Invitee>}
 */
export async function joined(server, who, role = 'member') {
  const email = freshEmail(who);
  const { token } = await invite(server, email, role);
  const password = newPassword();
  server.secret(password);
  const name = `${who[0]?.toUpperCase() ?? ''}${who.slice(1)} Tester`;
  const { status, body } = await api(server.base).post('/v1/invitations/signup', {
    token,
    displayName: name,
    password,
  });
  assert.equal(status, 201, `sign-up of ${email}: ${JSON.stringify(body)}`);
  server.secret(body.data.token);
  return { email, name, password, userId: body.data.user.id, token: body.data.token };
}
