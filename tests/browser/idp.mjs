// @ts-check
/**
 * The test identity provider (tests/idp/server.mjs: panva's oidc-provider
 * on a loopback port) for the browser tests of single sign-on and connected
 * apps (a GitHub-like OAuth server too), and its control API: clients,
 * users, and who signs in without a login_hint.
 *
 * `startIdp()` starts one on an ephemeral port (a test file starts its own
 * before its server, whose configuration names the issuer). The IdP exits
 * by itself when its stdin closes, so it also ends with this process
 * however that dies; an exit handler kills it besides. Its log (stderr)
 * goes to OUT.
 *
 * Its packages are installed by scripts/browser.sh (`npm ci --prefix
 * tests/idp`).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { OUT, ROOT, announced } from './harness.mjs';

/** @typedef {import('node:child_process').ChildProcess} ChildProcess */

/** The provider's directory. */
const IDP_DIR = path.join(ROOT, 'tests/idp');

/**
 * @typedef {object} IdpUser
 * @property {string} sub the subject: what latchkey links an identity by
 * @property {string} email
 * @property {boolean} email_verified
 * @property {string} name
 * @property {boolean} [deny] the user refuses: the authorization ends with `error=access_denied`
 */

/**
 * @typedef {object} Idp
 * @property {string} issuer `http://127.0.0.1:PORT`, the base of every endpoint
 * @property {string} logFile its stderr
 * @property {(clientId: string, clientSecret: string, redirectUris: string[]) => Promise<void>} registerClient registers (or replaces) a confidential client
 * @property {(clientId: string, clientSecret: string, redirectUris: string[]) => Promise<void>} registerOAuthClient
 *   the same, as a GitHub-like OAuth client of connected apps (refresh tokens too)
 * @property {{ authorize: string, token: string, revocation: string, user: string }} oauth the endpoints an
 *   OAuth client of the IdP is configured with (`[[oauth.providers]]`)
 * @property {(user: IdpUser) => Promise<void>} addUser registers (or replaces) a user
 * @property {(sub: string, clientId: string) => Promise<void>} setDefaultUser who signs in through `clientId` when the request has no login_hint
 * @property {() => Promise<void>} stop ends it (closing its stdin; SIGKILL after 5 s)
 */

/** @type {Set<ChildProcess>} */
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

let serial = 0;

/**
 * Starts the test IdP on an ephemeral port and waits for its
 * `idp listening on URL` line.
 * @returns {Promise<Idp>}
 */
export async function startIdp() {
  assert.ok(
    existsSync(path.join(IDP_DIR, 'node_modules/.package-lock.json')),
    `the test IdP's packages are not installed: npm ci --prefix tests/idp (scripts/browser.sh does)`,
  );
  mkdirSync(OUT, { recursive: true });
  const label = `${path.basename(process.argv[1] ?? 'harness', '.mjs')}-${process.pid}-${serial++}`;
  const logFile = path.join(OUT, `${label}.idp.log`);
  const log = openSync(logFile, 'w');
  const child = spawn(process.execPath, [path.join(IDP_DIR, 'server.mjs')], { stdio: ['pipe', 'pipe', log] });
  closeSync(log);
  running.add(child);
  /** @type {string} */
  let issuer;
  try {
    issuer = await listeningOn(child, logFile);
  } catch (e) {
    await stopChild(child);
    throw e;
  }

  /**
   * @param {string} p
   * @param {unknown} body
   */
  const control = async (p, body) => {
    const res = await fetch(`${issuer}${p}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    assert.equal(res.status, 204, `test IdP ${p} ${JSON.stringify(body)} answered ${res.status}: ${text}`);
  };
  return {
    issuer,
    logFile,
    registerClient: (clientId, clientSecret, redirectUris) =>
      control('/__test/clients', { client_id: clientId, client_secret: clientSecret, redirect_uris: redirectUris }),
    registerOAuthClient: (clientId, clientSecret, redirectUris) =>
      control('/__test/clients', {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
      }),
    oauth: {
      authorize: `${issuer}/auth`,
      token: `${issuer}/token`,
      revocation: `${issuer}/token/revocation`,
      user: `${issuer}/user`,
    },
    addUser: (user) => control('/__test/users', { ...user, deny: user.deny ?? false }),
    setDefaultUser: (sub, clientId) => control('/__test/default-user', { sub, client_id: clientId }),
    stop: () => stopChild(child),
  };
}

/**
 * Waits for `idp listening on URL` on the IdP's standard output.
 * @param {ChildProcess} child
 * @param {string} logFile
 * @returns {Promise<string>}
 */
function listeningOn(child, logFile) {
  return announced(child, 'idp listening on', (why) => `the test IdP ${why}; its log is ${logFile}`);
}

/**
 * Closes the IdP's stdin (it exits on EOF), then SIGKILL after 5 s;
 * resolves once it is gone.
 * @param {ChildProcess} child
 */
async function stopChild(child) {
  running.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}
