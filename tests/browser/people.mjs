// @ts-check
/**
 * People for the Team, Settings and Audit log tests, made through the JSON
 * API beside the browser: invitations, members who joined through one, and
 * a browser page signed in as them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { api, newPage, signIn } from './harness.mjs';

/** @typedef {import('./harness.mjs').Server} Server */
/** @typedef {import('playwright-core').Browser} Browser */
/** @typedef {import('playwright-core').Page} Page */

/**
 * @typedef {object} Person
 * @property {string} email
 * @property {string} name their display name
 * @property {string} password
 * @property {string} userId
 * @property {string} token a session token of theirs (from the sign-up)
 */

/** A password of the length the API asks for, registered as a secret by the caller. */
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
 * @param {'member' | 'admin'} role
 */
export async function invite(server, email, role = 'member') {
  const { status, body } = await api(server.base, server.adminKey).post('/v1/invitations', { email, role });
  assert.equal(status, 201, `invite ${email}: ${JSON.stringify(body)}`);
  server.secret(body.data.token);
  return { id: /** @type {string} */ (body.data.id), token: /** @type {string} */ (body.data.token) };
}

/**
 * Someone invited with `role` who signed up through the invitation
 * (`POST /v1/invitations/signup`): a member of the server's organization
 * only.
 * @param {Server} server
 * @param {string} who a word to make their address from
 * @param {'member' | 'admin'} role
 * @returns {Promise<Person>}
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

/**
 * A page of its own, signed in as `person` through the sign-in form.
 * @param {import('node:test').TestContext} t
 * @param {Browser} browser
 * @param {Server} server
 * @param {{ email: string, password: string }} person
 * @returns {Promise<Page>}
 */
export async function signedIn(t, browser, server, person) {
  const page = await newPage(t, browser);
  await signIn(page, server.base, person.email, person.password);
  return page;
}

/**
 * The text of the page's alert (a refusal: the API's message, code and
 * request id), whitespace collapsed.
 * @param {Page | import('playwright-core').Locator} where
 */
export async function alertText(where) {
  const text = await where.getByRole('alert').textContent();
  return (text ?? '').replace(/\s+/g, ' ').trim();
}

/**
 * The value of the `csrf` field of the page's forms (hidden fields have no
 * role or label; they are found by name).
 * @param {Page} page
 */
export async function csrfOf(page) {
  const value = await page.locator('input[type="hidden"][name="csrf"]').first().getAttribute('value');
  assert.ok(value, 'the page has a form with its csrf token');
  return value;
}

/**
 * A form POST from the signed-in page's browser context (its session
 * cookie), not following redirects: what a forged form would send.
 * @param {Page} page
 * @param {string} url
 * @param {Record<string, string>} form
 */
export async function postForm(page, url, form) {
  const res = await page.request.post(url, { form, maxRedirects: 0 });
  return { status: res.status(), text: await res.text(), location: res.headers().location };
}
