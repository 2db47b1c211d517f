// @ts-check
/**
 * The pages that sign the CLI in (issue 22, point 5): the authorization
 * page of `latchkey login --browser` and the device page of
 * `latchkey login --device`, opened signed in, checked with axe, and driven
 * to the end in the browser: the authorize form's redirect reaches a real
 * loopback listener (the page's policy lets its form lead there), and the
 * approved device's poll gets a session.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { api, expectAccessible, fixture, newPage, submitLogin } from './harness.mjs';

const f = fixture();

/**
 * A loopback listener standing in for the CLI: resolves with the query of
 * the first `/callback` request.
 */
async function loopback() {
  /** @type {(q: URLSearchParams) => void} */
  let got = () => {};
  const received = new Promise((resolve) => {
    got = resolve;
  });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><title>Signed in</title><h1>Signed in; you can close this window</h1></html>');
    if (url.pathname === '/callback') got(url.searchParams);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { redirectUri: `http://127.0.0.1:${address.port}/callback`, received, close: () => server.close() };
}

test('the CLI authorization page, reached through sign-in, leads to the loopback address', async (t) => {
  const { base } = f.server;
  const cli = await loopback();
  t.after(cli.close);
  const verifier = randomBytes(48).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const query = new URLSearchParams({
    redirect_uri: cli.redirectUri,
    state: 'browser-state',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const page = await newPage(t, f.browser);
  // Not signed in: the sign-in page, then back here.
  await page.goto(`${base}/dashboard/cli/authorize?${query}`);
  assert.equal(new URL(page.url()).pathname, '/dashboard/login');
  await page.getByLabel('Email', { exact: true }).fill(f.server.adminEmail);
  await page.getByLabel('Password', { exact: true }).fill(f.server.adminPassword);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/dashboard/cli/authorize');
  await page.getByRole('heading', { name: 'Authorize the latchkey CLI on this machine?' }).waitFor();
  assert.match(await page.locator('main').innerText(), new RegExp(f.server.adminEmail));
  await expectAccessible(page, 'cli authorize');

  await page.getByRole('button', { name: 'Authorize' }).click();
  const params = await cli.received;
  assert.equal(params.get('state'), 'browser-state');
  const code = params.get('code');
  assert.ok(code?.startsWith('lkc_'));
  await page.getByRole('heading', { name: 'Signed in; you can close this window' }).waitFor();
  const grant = await api(base).post('/v1/auth/cli/token', { code, codeVerifier: verifier, redirectUri: cli.redirectUri });
  assert.equal(grant.status, 200);
  f.server.secret(grant.body.data.token);
  assert.equal(grant.body.data.user.email, f.server.adminEmail);
});

test('the device page takes the code, shows the request and approves it', async (t) => {
  const { base } = f.server;
  const anonymous = api(base);
  const started = await anonymous.post('/v1/auth/device/code', { clientName: 'browser test box' });
  assert.equal(started.status, 200);
  const { deviceCode, userCode } = started.body.data;
  f.server.secret(deviceCode);
  const page = await newPage(t, f.browser);
  const signedIn = await submitLogin(page, base, f.server.adminEmail, f.server.adminPassword);
  assert.equal(signedIn.status(), 303);
  await page.goto(`${base}/dashboard/device`);
  await page.getByRole('heading', { name: 'Sign in a device' }).waitFor();
  await expectAccessible(page, 'device code');
  // A wrong code: the page says so.
  await page.getByLabel('Code').fill('BBBB-BBBB');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('alert').filter({ hasText: 'No pending sign-in has this code' }).waitFor();
  await expectAccessible(page, 'device unknown code');

  await page.getByLabel('Code').fill(userCode.toLowerCase());
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Approve this sign-in?' }).waitFor();
  assert.match(await page.locator('main').innerText(), /browser test box/);
  await expectAccessible(page, 'device confirm');
  await page.getByRole('button', { name: 'Approve' }).click();
  await page.getByRole('status').filter({ hasText: 'Device approved' }).waitFor();
  const polled = await anonymous.post('/v1/auth/device/token', { deviceCode });
  assert.equal(polled.status, 200);
  f.server.secret(polled.body.data.token);
  assert.equal(polled.body.data.user.email, f.server.adminEmail);
});
