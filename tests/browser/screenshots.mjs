// @ts-check
/**
 * Screenshots of the dashboard for docs/dashboard/: a fresh server, a little
 * realistic data made through the JSON API, then a 1280×800 PNG of every
 * page in PAGES as the admin sees it. Not part of CI; run it after changing
 * a page (the debug binary must be built):
 *
 *   cargo build -p latchkey && node tests/browser/screenshots.mjs
 *
 * A page that does not render (no 200) stops the run: add a page's line
 * once it exists.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT, api, launch, signIn, startServer } from './harness.mjs';

/**
 * The pages, one a line: the PNG's name and the page's path (`{checkout}`:
 * the id of the key seed() calls Checkout production). `signedIn: false`
 * shows the page to a visitor.
 * @type {{ name: string, path: string, signedIn?: boolean }[]}
 */
const PAGES = [
  { name: 'login', path: '/dashboard/login', signedIn: false },
  { name: 'keys', path: '/dashboard/keys' },
  { name: 'key-detail', path: '/dashboard/keys/{checkout}' },
  { name: 'projects', path: '/dashboard/projects' },
  { name: 'secrets', path: '/dashboard/secrets' },
  { name: 'ssh-keys', path: '/dashboard/ssh-keys' },
  { name: 'team', path: '/dashboard/team' },
  { name: 'workspaces', path: '/dashboard/workspaces' },
  { name: 'audit', path: '/dashboard/audit' },
  { name: 'settings', path: '/dashboard/settings' },
  { name: 'join', path: '/dashboard/join', signedIn: false },
];

const OUT = path.join(ROOT, 'docs/dashboard');

/**
 * A few keys of different scopes and environments, in a project and not,
 * one of them rotated and one revoked, one verified a few times, secrets,
 * SSH keys, workspaces, two members who joined by invitation and a pending invitation;
 * answers the ids the PAGES' paths need.
 * @param {import('./harness.mjs').Server} server
 */
async function seed(server) {
  const admin = api(server.base, server.adminKey);
  /**
   * @param {string} p
   * @param {unknown} [body]
   */
  const post = async (p, body) => {
    const { status, body: answer } = await admin.post(p, body);
    assert.ok(status >= 200 && status < 300, `POST ${p} answered ${status}: ${JSON.stringify(answer)}`);
    return answer.data;
  };
  const checkout = await post('/v1/projects', { name: 'Checkout service', description: 'Payments and orders' });
  await post('/v1/projects', { name: 'Internal tools' });
  const production = await post('/v1/api-keys', {
    name: 'Checkout production',
    scopes: ['sandbox:create', 'devboxes:read', 'devboxes:write'],
    projectId: checkout.id,
    rateLimitPerMinute: 20,
  });
  // Verifications for its chart: valid ones, a few over its limit, one lacking a scope.
  for (let i = 0; i < 24; i += 1) await admin.post('/v1/keys/verify', { key: production.key });
  await admin.post('/v1/keys/verify', { key: production.key, scopes: ['org:write'] });
  await post('/v1/api-keys', {
    name: 'Checkout staging',
    scopes: ['devboxes:read'],
    projectId: checkout.id,
    isTest: true,
    expiresIn: '30d',
  });
  const ci = await post('/v1/api-keys', { name: 'CI deploy', scopes: ['devboxes:write'], expiresIn: '90d' });
  await post(`/v1/api-keys/${ci.id}/rotate`, { gracePeriod: '24h' });
  const old = await post('/v1/api-keys', { name: 'Laptop (old)', scopes: ['org:read'], isTest: true });
  await post(`/v1/api-keys/${old.id}/revoke`);
  await post('/v1/api-keys', { name: 'Verifier for the gateway', scopes: ['keys:verify'], owner: 'org' });
  server.secret(production.key);
  // Secrets: values are made up here and never shown by the pages.
  for (const [name, category, orgWide] of /** @type {const} */ ([
    ['ANTHROPIC_API_KEY', 'provider', false],
    ['GITHUB_TOKEN', 'tool', false],
    ['SENTRY_DSN', 'tool', true],
    ['STRIPE_SECRET_KEY', 'provider', true],
  ])) {
    const { status } = await admin.put(`/v1/secrets/${name}`, { value: `example-${name}`, category, orgWide });
    assert.equal(status, 201, `PUT /v1/secrets/${name} answered ${status}`);
  }
  // SSH public keys (public halves only; their private keys were thrown away).
  await post('/v1/ssh-keys', {
    name: 'ada laptop',
    publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMKnmkQmxqeIW/KlgzqBWZ2ETUPZXUaCpkncP27Ql07B ada@laptop',
  });
  await post('/v1/ssh-keys', {
    name: 'bastion (shared)',
    publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGBcHSr7BNw2pGkCf1yCgEft2EEwXICieXVxlBqy3xPy ops@bastion',
    orgWide: true,
  });
  // Workspaces: the organization's (one of a project, with a quota) and the admin's own.
  for (const w of [
    { name: 'checkout-artifacts', kind: 'org', projectId: checkout.id, quotaBytes: 50 * 2 ** 30 },
    { name: 'agent-memory', kind: 'org', quotaBytes: 10 * 2 ** 30 },
    { name: 'ada-scratch', kind: 'personal' },
  ]) {
    await post('/v1/workspaces', w);
  }
  // The team: two people who joined by invitation, one invitation pending.
  for (const [email, role, displayName] of /** @type {const} */ ([
    ['grace@acme.example', 'member', 'Grace Hopper'],
    ['linus@acme.example', 'admin', 'Linus Park'],
  ])) {
    const { token } = await post('/v1/invitations', { email, role });
    const { status } = await api(server.base).post('/v1/invitations/signup', {
      token,
      displayName,
      password: `example-password-${displayName}`,
    });
    assert.equal(status, 201, `POST /v1/invitations/signup answered ${status}`);
  }
  await post('/v1/invitations', { email: 'margaret@acme.example', role: 'member' });
  // Verification counts are written behind (every 2 s).
  await new Promise((resolve) => setTimeout(resolve, 2500));
  return { checkout: /** @type {string} */ (production.id) };
}

const server = await startServer({ org: 'Acme Robotics', email: 'ada@acme.example' });
try {
  const ids = await seed(server);
  const browser = await launch();
  try {
    const viewport = { width: 1280, height: 800 };
    const visitor = await (await browser.newContext({ viewport })).newPage();
    const admin = await (await browser.newContext({ viewport })).newPage();
    await signIn(admin, server.base, server.adminEmail, server.adminPassword);
    mkdirSync(OUT, { recursive: true });
    for (const p of PAGES) {
      const page = (p.signedIn ?? true) ? admin : visitor;
      const response = await page.goto(`${server.base}${p.path.replace('{checkout}', ids.checkout)}`);
      assert.equal(response?.status(), 200, `${p.path} answered ${response?.status()}`);
      const file = path.join(OUT, `${p.name}.png`);
      await page.screenshot({ path: file });
      console.log(`${p.path} → ${path.relative(ROOT, file)}`);
    }
  } finally {
    await browser.close();
  }
} finally {
  await server.stop();
}
