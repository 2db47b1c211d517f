// @ts-check
/**
 * Signing in and out of the dashboard, and what protects it: the session
 * cookie's flags, the security headers, CSRF tokens (a POST without a valid
 * one is refused and changes nothing), sign-out ending the session on the
 * server, and axe on the sign-in and keys pages.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import {
  LOGIN_CSRF_COOKIE,
  SESSION_COOKIE,
  api,
  csrfField,
  expectAccessible,
  fixture,
  newPage as harnessPage,
  parseCsp,
  sessionToken,
  signIn,
  startServer,
  submitLogin,
} from './harness.mjs';

/** @typedef {import('node:test').TestContext} TestContext */
/** @typedef {import('playwright-core').Page} Page */

const f = fixture();

const WRONG = 'Wrong email or password.';
const NAV = ['API keys', 'Team', 'Projects', 'Secrets', 'SSH keys', 'Connected apps', 'Audit log', 'Settings'];

/**
 * A page in a browser context of its own, closed after the test.
 * @param {TestContext} t
 */
const newPage = (t) => harnessPage(t, f.browser);

/**
 * A location header resolved against the server: its path.
 * @param {string | null | undefined} location
 */
function pathOf(location) {
  assert.ok(location, 'a redirect has a Location');
  return new URL(location, f.server.base).pathname;
}

/**
 * The visible text of the page's alert, whitespace collapsed.
 * @param {Page} page
 */
async function alertText(page) {
  const text = await page.getByRole('alert').textContent();
  return (text ?? '').replace(/\s+/g, ' ').trim();
}

/**
 * The attributes of cookie `name` in Set-Cookie header lines, lower-cased
 * (`httponly`, `samesite=lax`, …), or undefined if it is not set.
 * @param {string | null | undefined} setCookie header lines, one cookie a line
 * @param {string} name
 */
function cookieAttributes(setCookie, name) {
  const line = (setCookie ?? '').split('\n').find((l) => l.startsWith(`${name}=`));
  return line?.split(';').slice(1).map((a) => a.trim().toLowerCase().replace(/\s*=\s*/, '='));
}

/**
 * The headers every dashboard response carries.
 * @param {Record<string, string>} headers lower-cased names
 * @param {string} what
 */
function assertSecurityHeaders(headers, what) {
  const header = headers['content-security-policy'];
  assert.ok(header, `${what}: Content-Security-Policy is set`);
  const csp = parseCsp(header);
  const scripts = csp.get('script-src') ?? csp.get('default-src');
  assert.ok(scripts, `${what}: the CSP restricts scripts: ${header}`);
  assert.ok(scripts.includes("'self'"), `${what}: script-src 'self': ${header}`);
  for (const unsafe of ["'unsafe-inline'", "'unsafe-eval'", '*', 'data:', 'http:', 'https:']) {
    assert.ok(!scripts.includes(unsafe), `${what}: script-src without ${unsafe}: ${header}`);
  }
  assert.deepEqual(csp.get('frame-ancestors'), ["'none'"], `${what}: frame-ancestors 'none': ${header}`);
  assert.equal(headers['x-content-type-options'], 'nosniff', `${what}: X-Content-Type-Options`);
  assert.equal(headers['referrer-policy'], 'same-origin', `${what}: Referrer-Policy`);
}

/**
 * A fetch that does not follow redirects, its headers as a plain object.
 * @param {string} p
 * @param {RequestInit} [init]
 */
async function raw(p, init = {}) {
  const res = await fetch(`${f.server.base}${p}`, { redirect: 'manual', ...init });
  return { status: res.status, headers: Object.fromEntries(res.headers), text: await res.text() };
}

/**
 * The sessions the admin has on the server, counted through a session of
 * the API's own (`GET /v1/sessions` lists the caller's sessions).
 * @param {string} token
 */
async function sessionCount(token) {
  const { status, body } = await api(f.server.base, token).get('/v1/sessions');
  assert.equal(status, 200);
  return body.data.length;
}

/** A session through the JSON API, to watch sessions from beside the browser. */
async function apiSession() {
  const { base, adminEmail, adminPassword } = f.server;
  const { status, body } = await api(base).post('/v1/auth/login', { email: adminEmail, password: adminPassword });
  assert.equal(status, 200);
  f.server.secret(body.data.token);
  return /** @type {string} */ (body.data.token);
}

test('a visitor without a session is sent from / to the sign-in page', async (t) => {
  const root = await raw('/');
  assert.equal(root.status, 303);
  assert.equal(pathOf(root.headers.location), '/dashboard');
  const dashboard = await raw('/dashboard');
  assert.equal(dashboard.status, 303);
  assert.ok(['/dashboard/keys', '/dashboard/login'].includes(pathOf(dashboard.headers.location)));
  const keys = await raw('/dashboard/keys');
  assert.equal(keys.status, 303);
  assert.equal(pathOf(keys.headers.location), '/dashboard/login');

  const page = await newPage(t);
  await page.goto(`${f.server.base}/`);
  assert.equal(new URL(page.url()).pathname, '/dashboard/login');
  await page.getByLabel('Email', { exact: true }).waitFor();
  await page.getByLabel('Password', { exact: true }).waitFor();
  await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  await expectAccessible(page, 'sign-in');
});

test('a wrong password and an unknown email get the same answer, and no session', async (t) => {
  const { base, adminEmail, adminPassword } = f.server;
  const before = await sessionCount(await apiSession());
  const page = await newPage(t);

  /**
   * The refusal's alert: it says `Wrong email or password.` and shows the
   * request id (error pages do); returned with the id masked, to compare.
   * @param {import('playwright-core').Response} response
   */
  const refusal = async (response) => {
    assert.equal(response.status(), 401);
    assert.equal(new URL(page.url()).pathname, '/dashboard/login');
    assert.equal(await sessionToken(page.context()), undefined);
    const text = await alertText(page);
    assert.ok(text.startsWith(WRONG), `the alert says ${WRONG}: ${text}`);
    const requestId = await response.headerValue('x-request-id');
    assert.ok(requestId && text.includes(requestId), `the alert shows the request id ${requestId}: ${text}`);
    return text.replace(requestId, '<request id>');
  };

  const wrongPassword = await refusal(await submitLogin(page, base, adminEmail, `${adminPassword}x`));
  // The form is there to try again, and accessible with its error.
  await page.getByLabel('Password', { exact: true }).waitFor();
  await expectAccessible(page, 'sign-in, after a wrong password');
  const unknownEmail = await refusal(await submitLogin(page, base, 'nobody@example.com', adminPassword));
  // Nothing tells the two apart.
  assert.equal(unknownEmail, wrongPassword);

  // Neither attempt made a session (the count includes the watching one).
  assert.equal(await sessionCount(await apiSession()), before + 1);
});

test('signing in lands on the keys page with an HttpOnly, SameSite=Lax session cookie', async (t) => {
  const { base, adminEmail, adminPassword } = f.server;
  const page = await newPage(t);
  const response = await submitLogin(page, base, adminEmail, adminPassword);
  assert.equal(response.status(), 303);
  assert.equal(pathOf(await response.headerValue('location')), '/dashboard/keys');
  await page.waitForURL(`${base}/dashboard/keys`);

  // The flags as the server sent them (plain http: not Secure)…
  const flags = cookieAttributes(await response.headerValue('set-cookie'), SESSION_COOKIE);
  assert.ok(flags, 'the sign-in sets the session cookie');
  assert.ok(flags.includes('httponly'), `HttpOnly: ${flags}`);
  assert.ok(flags.includes('samesite=lax'), `SameSite=Lax: ${flags}`);
  assert.ok(flags.includes('path=/'), `Path=/: ${flags}`);
  assert.ok(!flags.includes('secure'), `not Secure on plain http: ${flags}`);
  // …and as the browser keeps it.
  const cookie = (await page.context().cookies()).find((c) => c.name === SESSION_COOKIE);
  assert.ok(cookie);
  f.server.secret(cookie.value);
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');
  assert.equal(cookie.secure, false);
  assert.match(cookie.value, /^lks_/);
  // Scripts on the page cannot read it.
  assert.ok(!(await page.evaluate(() => document.cookie)).includes(cookie.value));
  // It is a real session of the admin: the API takes it too.
  const me = await api(base, cookie.value).get('/v1/me');
  assert.equal(me.status, 200);
  assert.equal(me.body.data.authType, 'session');
  assert.equal(me.body.data.user.email, adminEmail);

  // The header: who is signed in can sign out and reach every section.
  await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
  for (const name of NAV) {
    await page.getByRole('link', { name, exact: true }).waitFor();
  }
  await expectAccessible(page, 'keys');

  // Signed in, / leads to the keys page.
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/dashboard/keys');
});

test('every dashboard response carries the security headers, and Chromium enforces the CSP', async (t) => {
  const { base, adminEmail, adminPassword } = f.server;
  assertSecurityHeaders((await raw('/dashboard/login')).headers, 'GET /dashboard/login');
  assertSecurityHeaders((await raw('/dashboard/keys')).headers, 'GET /dashboard/keys without a session (303)');

  const page = await newPage(t);
  const login = await page.goto(`${base}/dashboard/login`);
  assert.ok(login);
  assertSecurityHeaders(await login.allHeaders(), 'the sign-in page');
  const failed = await submitLogin(page, base, adminEmail, `${adminPassword}x`);
  assertSecurityHeaders(await failed.allHeaders(), 'a failed sign-in (401)');
  const signedIn = await submitLogin(page, base, adminEmail, adminPassword);
  assertSecurityHeaders(await signedIn.allHeaders(), 'the sign-in (303)');
  const keys = await page.goto(`${base}/dashboard/keys`);
  assert.ok(keys);
  assert.equal(keys.status(), 200);
  assertSecurityHeaders(await keys.allHeaders(), 'the keys page');
  const refused = await page.request.post(`${base}/dashboard/logout`, { form: {}, maxRedirects: 0 });
  assertSecurityHeaders(refused.headers(), 'a refused POST (403)');

  // An inline script does not run: the policy is in force, not only sent.
  const ran = await page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.__inlineRan = true';
    document.body.append(script);
    return /** @type {any} */ (window).__inlineRan === true;
  });
  assert.equal(ran, false, 'an inline script ran despite the CSP');
  // Nor may another site frame the dashboard. The framing page is served
  // from loopback too (another port, another origin), or Chromium's
  // local-network protection would block the frame for its own reason.
  const framing = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><title>elsewhere</title><iframe src="${base}/dashboard/login"></iframe>`);
  });
  await new Promise((resolve) => framing.listen(0, '127.0.0.1', () => resolve(undefined)));
  t.after(() => framing.close());
  const address = /** @type {import('node:net').AddressInfo} */ (framing.address());
  const framer = await newPage(t);
  const framed = framer.waitForResponse((r) => r.url() === `${base}/dashboard/login`);
  await framer.goto(`http://127.0.0.1:${address.port}/`);
  // The server answered the frame's request; the browser did not show it.
  assert.equal((await framed).status(), 200);
  const shown = await framer.frameLocator('iframe').getByRole('button', { name: 'Sign in' }).count();
  assert.equal(shown, 0, 'the sign-in page rendered inside another site');
});

test('a POST without a valid csrf token is refused with csrf_failed and changes nothing', async (t) => {
  const { base, adminEmail, adminPassword } = f.server;
  const page = await newPage(t);
  await signIn(page, base, adminEmail, adminPassword);
  const token = await sessionToken(page.context());
  assert.ok(token);
  f.server.secret(token);
  const real = await csrfField(page);
  const wrong = `${real.slice(0, -1)}${real.endsWith('A') ? 'B' : 'A'}`;

  /** @type {[string, Record<string, string>, Record<string, string>][]} */
  const cases = [
    ['no csrf field', {}, {}],
    ['an empty csrf field', { csrf: '' }, {}],
    ['a wrong csrf token', { csrf: wrong }, {}],
    // A browser names the page a form was sent from; another site's is refused.
    ['the right token from another site', { csrf: real }, { origin: 'http://elsewhere.test' }],
  ];
  for (const [what, form, headers] of cases) {
    // Sent with the browser's session cookie, as a forged form would be.
    const res = await page.request.post(`${base}/dashboard/logout`, { form, headers, maxRedirects: 0 });
    assert.equal(res.status(), 403, `${what}: refused`);
    const text = await res.text();
    assert.match(text, /csrf_failed/, `${what}: the error page names the code`);
    const requestId = res.headers()['x-request-id'];
    assert.ok(requestId && text.includes(requestId), `${what}: the error page shows the request id ${requestId}`);
    // Nothing changed: the session still works, on the API and in the browser.
    assert.equal((await api(base, token).get('/v1/me')).status, 200, `${what}: the session survived`);
  }
  await page.goto(`${base}/dashboard/keys`);
  assert.equal(new URL(page.url()).pathname, '/dashboard/keys');

  // The same refusal as a person would meet it: the sign-out form with its
  // token taken out, submitted in the browser, shows the error page.
  const signOut = page.getByRole('button', { name: 'Sign out', exact: true });
  await signOut.evaluate((button) => {
    const form = /** @type {HTMLButtonElement} */ (button).form;
    for (const field of form?.querySelectorAll('input[name="csrf"]') ?? []) field.remove();
  });
  const [refused] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/dashboard/logout'),
    signOut.click(),
  ]);
  assert.equal(refused.status(), 403);
  await page.getByText('csrf_failed').first().waitFor();
  await expectAccessible(page, 'error page (csrf_failed)');
  assert.equal((await api(base, token).get('/v1/me')).status, 200, 'the session survived the refused sign-out');
});

test('a sign-in POST without its double-submit cookie is refused and makes no session', async (t) => {
  const { base, adminEmail, adminPassword } = f.server;
  const watcher = await apiSession();
  const before = await sessionCount(watcher);
  const page = await newPage(t);
  const context = page.context();
  const credentials = { email: adminEmail, password: adminPassword };

  await page.goto(`${base}/dashboard/login`);
  const field = await csrfField(page);
  assert.ok(
    (await context.cookies()).some((c) => c.name === LOGIN_CSRF_COOKIE),
    `the sign-in page sets ${LOGIN_CSRF_COOKIE}`,
  );

  // The field without the cookie.
  await context.clearCookies();
  let res = await page.request.post(`${base}/dashboard/login`, { form: { ...credentials, csrf: field }, maxRedirects: 0 });
  assert.equal(res.status(), 403, 'the field without the cookie');
  assert.match(await res.text(), /csrf_failed/);
  assert.equal(cookieAttributes(res.headers()['set-cookie'], SESSION_COOKIE), undefined);

  // The cookie without the field.
  await page.goto(`${base}/dashboard/login`);
  res = await page.request.post(`${base}/dashboard/login`, { form: credentials, maxRedirects: 0 });
  assert.equal(res.status(), 403, 'the cookie without the field');
  assert.match(await res.text(), /csrf_failed/);

  // A cookie and a field of two different visits.
  await context.clearCookies();
  await page.goto(`${base}/dashboard/login`);
  assert.notEqual(await csrfField(page), field);
  res = await page.request.post(`${base}/dashboard/login`, { form: { ...credentials, csrf: field }, maxRedirects: 0 });
  assert.equal(res.status(), 403, 'a field that is not the cookie');
  assert.match(await res.text(), /csrf_failed/);

  assert.equal(await sessionToken(context), undefined);
  assert.equal(await sessionCount(watcher), before, 'no refused sign-in made a session');

  // The control: the same browser, through the form, signs in.
  await signIn(page, base, adminEmail, adminPassword);
  assert.equal(await sessionCount(watcher), before + 1);
});

test('signing out ends the session on the server', async (t) => {
  const { base, adminEmail, adminPassword } = f.server;
  const page = await newPage(t);
  await signIn(page, base, adminEmail, adminPassword);
  const token = await sessionToken(page.context());
  assert.ok(token);
  f.server.secret(token);
  assert.equal((await api(base, token).get('/v1/me')).status, 200);

  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL((url) => url.pathname === '/dashboard/login');
  assert.equal(await sessionToken(page.context()), undefined, 'the browser dropped the cookie');

  // The server no longer knows the token…
  const me = await api(base, token).get('/v1/me');
  assert.equal(me.status, 401);
  // …so the old cookie, sent back, leads to the sign-in page.
  const replay = await raw('/dashboard/keys', { headers: { cookie: `${SESSION_COOKIE}=${token}` } });
  assert.equal(replay.status, 303);
  assert.equal(pathOf(replay.headers.location), '/dashboard/login');
  const other = await newPage(t);
  await other.context().addCookies([{ name: SESSION_COOKIE, value: token, url: base, httpOnly: true, sameSite: 'Lax' }]);
  await other.goto(`${base}/dashboard/keys`);
  assert.equal(new URL(other.url()).pathname, '/dashboard/login');
});

test('behind HTTPS (behind_https = true) the cookies are Secure', async (t) => {
  const server = await startServer({ toml: 'behind_https = true\n' });
  t.after(() => server.stop());
  const page = await newPage(t);
  const login = await page.goto(`${server.base}/dashboard/login`);
  assert.ok(login);
  const csrfFlags = cookieAttributes(await login.headerValue('set-cookie'), LOGIN_CSRF_COOKIE);
  assert.ok(csrfFlags?.includes('secure'), `${LOGIN_CSRF_COOKIE} is Secure: ${csrfFlags}`);
  const response = await submitLogin(page, server.base, server.adminEmail, server.adminPassword);
  assert.equal(response.status(), 303);
  const flags = cookieAttributes(await response.headerValue('set-cookie'), SESSION_COOKIE);
  assert.ok(flags, 'the sign-in sets the session cookie');
  assert.ok(flags.includes('secure') && flags.includes('httponly') && flags.includes('samesite=lax'), `${flags}`);
  const token = await sessionToken(page.context());
  assert.ok(token);
  server.secret(token);
});
