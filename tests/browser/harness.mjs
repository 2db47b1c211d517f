// @ts-check
/**
 * The browser tests' harness: a real `latchkey serve` on a loopback port
 * with a fresh data directory, Debian's Chromium driven by playwright-core,
 * a small JSON client for the API beside the browser, and axe-core.
 *
 * One server per test file (starting one costs about a second); the tests of
 * a file share it, and `fixture()` starts it and the browser before the first
 * test and stops both after the last, whatever happened in between
 * (`fixtureWith()` starts a companion service first: an IdP, an object
 * store). Every server this process started is also killed if the process
 * exits or is told to stop (the runner's timeout), so none outlives a
 * failed or hung run.
 *
 * Environment:
 *   LATCHKEY_BIN          the binary  [target/debug/latchkey]
 *   LATCHKEY_CHROMIUM     the browser  [/usr/bin/chromium]
 *   LATCHKEY_BROWSER_OUT  servers' logs, axe's report  [target/browser]
 *   LATCHKEY_TEST_LOG     the servers' log filter  [trace]
 *   LATCHKEY_AXE_REPORT   a file each axe check appends one JSON line to
 *                         (scripts/browser.sh sums them up)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** @typedef {import('playwright-core').Browser} Browser */
/** @typedef {import('playwright-core').BrowserContext} BrowserContext */
/** @typedef {import('playwright-core').Page} Page */
/** @typedef {import('playwright-core').Response} Response */
/** @typedef {import('node:child_process').ChildProcess} ChildProcess */

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository's root. */
export const ROOT = path.resolve(here, '../..');
/** The latchkey binary the tests run (the debug build `cargo build -p latchkey` makes). */
export const BIN = process.env.LATCHKEY_BIN ?? path.join(ROOT, 'target/debug/latchkey');
/** Debian's Chromium (`npx playwright install` cannot download browsers here). */
export const CHROMIUM = process.env.LATCHKEY_CHROMIUM ?? '/usr/bin/chromium';
/** Where servers' logs go (they outlive the server's data directory). */
export const OUT = process.env.LATCHKEY_BROWSER_OUT ?? path.join(ROOT, 'target/browser');

/** The session cookie's name (fixed by the dashboard's interface). */
export const SESSION_COOKIE = 'latchkey_session';
/** The login form's double-submit cookie. */
export const LOGIN_CSRF_COOKIE = 'latchkey_csrf';

// Every server this process started and has not stopped yet, with its data directory.
/** @type {Map<ChildProcess, string>} */
const running = new Map();

/** Kills every server still running and removes its data directory (synchronously: this runs on exit). */
function killRunning() {
  for (const [child, dataDir] of running) {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
  running.clear();
}

process.on('exit', killRunning);
for (const [signal, code] of /** @type {const} */ ([
  ['SIGTERM', 143],
  ['SIGINT', 130],
  ['SIGHUP', 129],
])) {
  process.on(signal, () => {
    killRunning();
    // playwright-core closes its browsers on the same signal and leaves the
    // exit to us; give it a moment, without keeping an idle process alive.
    setTimeout(() => process.exit(code), 2000).unref();
  });
}

/**
 * The limits `scripts/contract.sh` raises too: per address and account,
 * sign-up, login failures and failed authentication are throttled, which a
 * test run that signs in and fails on purpose from one address would hit.
 */
const RAISED_LIMITS = `signups_per_hour_per_ip = 1000000
failed_auth_per_minute = 1000000
login_failures_per_account_and_ip = 1000000
login_failures_per_account = 1000000
login_failures_per_ip = 1000000
`;

/**
 * @typedef {object} ServerOptions
 * @property {string} [org] the organization's name
 * @property {string} [email] the admin's email
 * @property {boolean} [raiseLimits] raise the throttles of sign-up, login failures and failed authentication (default true)
 * @property {string | ((init: InitIds) => string)} [toml] more lines of latchkey.toml, or a function of
 *   what `latchkey init` made (written before the server starts, so it may name init's organization)
 * @property {string[]} [args] more arguments of `latchkey serve`
 */

/**
 * @typedef {object} InitIds
 * @property {string} orgId the organization `latchkey init` made
 * @property {string} adminUserId its admin
 */

/**
 * @typedef {object} Server
 * @property {string} base the server's URL, `http://127.0.0.1:PORT`
 * @property {string} orgId the organization `latchkey init` made
 * @property {string} adminUserId its admin
 * @property {string} adminKey the admin's `*` API key `latchkey init` printed
 * @property {string} adminEmail the admin's email
 * @property {string} adminPassword the admin's password (set with `latchkey admin set-password`)
 * @property {string} dataDir the server's data directory (removed by stop)
 * @property {string} logFile where its log goes (kept)
 * @property {(secret: string) => void} secret a secret the test handled: stop() fails if the server's log holds it
 * @property {() => string} log the server's log so far
 * @property {() => Promise<void>} stop stops the server, removes its data directory and checks its log for the secrets
 */

/**
 * Runs `latchkey ARGS` to completion and returns its standard output.
 * @param {string[]} args
 * @param {string} [input] standard input
 * @returns {Promise<string>}
 */
function runCli(args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', (e) => reject(new Error(`cannot run ${BIN} (build it: cargo build -p latchkey): ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`latchkey ${args[0]} ${args[1] ?? ''} exited with ${code}: ${stderr.trim()}`));
    });
    child.stdin.end(input ?? '');
  });
}

/**
 * The environment of the server and the CLI: this process's, without the
 * LATCHKEY_* variables that would point them elsewhere (a database URL, a
 * data directory, a config file, a listen address, Redis).
 * @param {Record<string, string>} [extra]
 */
function childEnv(extra = {}) {
  /** @type {Record<string, string>} */
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('LATCHKEY_')) env[k] = v;
  }
  return { ...env, ...extra };
}

let serial = 0;

/**
 * Starts a fresh server: a temporary data directory, `latchkey init`, the
 * admin's password, `latchkey serve` on a free loopback port.
 * @param {ServerOptions} [options]
 * @returns {Promise<Server>}
 */
export async function startServer(options = {}) {
  const org = options.org ?? 'Browser Tests';
  const adminEmail = options.email ?? 'admin@example.com';
  const adminPassword = `pw-${randomBytes(12).toString('base64url')}`;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-browser-'));
  mkdirSync(OUT, { recursive: true });
  const label = `${path.basename(process.argv[1] ?? 'harness', '.mjs')}-${process.pid}-${serial++}`;
  const logFile = path.join(OUT, `${label}.server.log`);
  /** @type {Set<string>} */
  const secrets = new Set([adminPassword]);
  /** @type {ChildProcess | undefined} */
  let child;
  try {
    const init = JSON.parse(
      await runCli(['init', '--org', org, '--email', adminEmail, '--data-dir', dataDir, '--json']),
    );
    secrets.add(init.apiKey);
    // init makes the first admin a password of its own too; the test's replaces it.
    if (init.password) secrets.add(init.password);
    const raise = options.raiseLimits ?? true;
    const toml =
      typeof options.toml === 'function' ? options.toml({ orgId: init.orgId, adminUserId: init.userId }) : options.toml;
    await writeFile(path.join(dataDir, 'latchkey.toml'), `${raise ? RAISED_LIMITS : ''}${toml ?? ''}`);
    await runCli(['admin', 'set-password', '--email', adminEmail, '--data-dir', dataDir], `${adminPassword}\n`);

    const log = openSync(logFile, 'w');
    child = spawn(
      BIN,
      ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...(options.args ?? [])],
      {
        env: childEnv({ LATCHKEY_LOG: process.env.LATCHKEY_TEST_LOG ?? 'trace' }),
        stdio: ['ignore', 'pipe', log],
      },
    );
    closeSync(log);
    running.set(child, dataDir);
    const base = await listeningOn(child, logFile);
    const started = child;
    return {
      base,
      orgId: init.orgId,
      adminUserId: init.userId,
      adminKey: init.apiKey,
      adminEmail,
      adminPassword,
      dataDir,
      logFile,
      secret: (s) => void secrets.add(s),
      log: () => readFileSync(logFile, 'utf8'),
      stop: async () => {
        await stopChild(started);
        await rm(dataDir, { recursive: true, force: true });
        const text = await readFile(logFile, 'utf8');
        const leaked = [...secrets].filter((s) => text.includes(s));
        assert.equal(leaked.length, 0, `the server's log (${logFile}) holds ${leaked.length} secret(s) the test handled`);
      },
    };
  } catch (e) {
    if (child) await stopChild(child);
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Waits for `latchkey listening on URL` on the server's standard output.
 * @param {ChildProcess} child
 * @param {string} logFile
 * @returns {Promise<string>}
 */
function listeningOn(child, logFile) {
  return announced(child, 'latchkey listening on', (why) => {
    let tail = '';
    try {
      tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      // no log yet
    }
    return `latchkey serve ${why}; its log (${logFile}) ends:\n${tail}`;
  });
}

/**
 * Waits (20 s at most) for the line `<prefix> URL` on a child's standard
 * output and resolves with the URL; then keeps draining the output, so a
 * full pipe never blocks the child. A child that fails to start or exits
 * first rejects with `explain(why)`.
 * @param {ChildProcess} child
 * @param {string} prefix
 * @param {(why: string) => string} explain
 * @returns {Promise<string>}
 */
export function announced(child, prefix, explain) {
  return new Promise((resolve, reject) => {
    const stdout = child.stdout;
    if (!stdout) return reject(new Error('no stdout'));
    let seen = '';
    const fail = (/** @type {string} */ why) => {
      clearTimeout(timer);
      reject(new Error(explain(why)));
    };
    const timer = setTimeout(() => fail('did not report its address within 20 s'), 20_000);
    const line = new RegExp(`^${prefix} (\\S+)$`, 'm');
    stdout.setEncoding('utf8');
    stdout.on('data', (/** @type {string} */ d) => {
      seen += d;
      const m = line.exec(seen);
      if (m) {
        clearTimeout(timer);
        stdout.removeAllListeners('data');
        stdout.resume();
        resolve(m[1] ?? '');
      }
    });
    child.once('error', (e) => fail(`could not start (${e.message})`));
    child.once('exit', (code, signal) => fail(`exited (${code ?? signal}) before listening`));
  });
}

/**
 * SIGTERM, then SIGKILL after 5 s; resolves once the process is gone.
 * @param {ChildProcess} child
 */
async function stopChild(child) {
  running.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/**
 * Debian's Chromium, headless.
 * @returns {Promise<Browser>}
 */
export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
    timeout: 30_000,
  });
}

/**
 * @typedef {object} Fixture
 * @property {Server} server
 * @property {Browser} browser
 */

/**
 * The file's server and browser: started in a `before` hook, stopped in an
 * `after` hook (the browser closed, the server stopped, its log checked for
 * secrets), even when a test failed.
 * @param {ServerOptions} [options]
 * @returns {Fixture}
 */
export function fixture(options) {
  return fixtureWith({ start: async () => ({ stop: async () => {} }), server: () => options ?? {} });
}

/**
 * @template {{ stop: () => Promise<void> }} C
 * @typedef {object} Companion
 * @property {() => Promise<C>} start starts the service the server depends on (an IdP, an object store)
 * @property {(companion: C) => ServerOptions} server the server's options, from the running companion
 * @property {(companion: C, server: Server) => Promise<void> | void} [ready] a step once both run,
 *   before the browser: the secrets the server's log must not hold, the server's callback at the companion
 */

/**
 * @template C
 * @typedef {Fixture & { companion: C }} CompanionFixture
 */

/**
 * {@link fixture} with a companion service: in one `before` hook (Node 20 runs
 * a file's top-level `before` hooks at the same time, so the order lives in
 * one), the companion, then the server configured from it, the `ready` step
 * and the browser; in the `after` hook the browser, the server and the
 * companion stopped in that order, each even when the one before failed.
 * @template {{ stop: () => Promise<void> }} C
 * @param {Companion<C>} setup
 * @returns {CompanionFixture<C>}
 */
export function fixtureWith(setup) {
  /** @type {C | undefined} */
  let companion;
  /** @type {Server | undefined} */
  let server;
  /** @type {Browser | undefined} */
  let browser;
  before(async () => {
    companion = await setup.start();
    server = await startServer(setup.server(companion));
    await setup.ready?.(companion, server);
    browser = await launch();
  });
  after(async () => {
    try {
      await browser?.close();
    } finally {
      try {
        await server?.stop();
      } finally {
        await companion?.stop();
      }
    }
  });
  return {
    get companion() {
      assert.ok(companion, 'the companion is started in the before hook');
      return companion;
    },
    get server() {
      assert.ok(server, 'the server is started in the before hook');
      return server;
    },
    get browser() {
      assert.ok(browser, 'the browser is launched in the before hook');
      return browser;
    },
  };
}

/** How long a step in the page (a click, waiting for an element) may take: the server is local. */
export const STEP_TIMEOUT = 10_000;

/**
 * A page in a browser context of its own (its own cookies), closed after
 * the test `t`.
 * @param {import('node:test').TestContext} t
 * @param {Browser} browser
 * @param {import('playwright-core').BrowserContextOptions} [options]
 * @returns {Promise<Page>}
 */
export async function newPage(t, browser, options) {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(STEP_TIMEOUT);
  t.after(() => context.close());
  return context.newPage();
}

/**
 * Fills the sign-in form and submits it; resolves with the answer to the
 * form's POST (not following where it leads).
 * @param {Page} page
 * @param {string} base
 * @param {string} email
 * @param {string} password
 * @returns {Promise<Response>}
 */
export async function submitLogin(page, base, email, password) {
  await page.goto(`${base}/dashboard/login`);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  const posted = page.waitForResponse(
    (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/dashboard/login',
  );
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  const response = await posted;
  await page.waitForLoadState();
  return response;
}

/**
 * Signs in through the form and waits for the landing page, the keys list.
 * @param {Page} page
 * @param {string} base
 * @param {string} email
 * @param {string} password
 */
export async function signIn(page, base, email, password) {
  const response = await submitLogin(page, base, email, password);
  assert.equal(response.status(), 303, `signing in as ${email} answered ${response.status()}`);
  await page.waitForURL(`${base}/dashboard/keys`);
}

/**
 * The session token in the browser context's cookie, if any.
 * @param {BrowserContext} context
 * @returns {Promise<string | undefined>}
 */
export async function sessionToken(context) {
  const cookies = await context.cookies();
  return cookies.find((c) => c.name === SESSION_COOKIE)?.value;
}

/**
 * @typedef {object} ApiAnswer
 * @property {number} status
 * @property {any} body the parsed JSON, or the text if the answer is not JSON
 * @property {Headers} headers
 */

/**
 * @typedef {object} Api
 * @property {(path: string) => Promise<ApiAnswer>} get
 * @property {(path: string, body?: unknown) => Promise<ApiAnswer>} post
 * @property {(path: string, body?: unknown) => Promise<ApiAnswer>} patch
 * @property {(path: string, body?: unknown) => Promise<ApiAnswer>} put
 * @property {(path: string) => Promise<ApiAnswer>} delete
 */

/**
 * A small JSON client of the API, authenticated with `token` (an API key or
 * a session token) as `Authorization: Bearer`, or anonymous.
 * @param {string} base
 * @param {string} [token]
 * @returns {Api}
 */
export function api(base, token) {
  /**
   * @param {string} method
   * @param {string} p
   * @param {unknown} [body]
   * @returns {Promise<ApiAnswer>}
   */
  const call = async (method, p, body) => {
    /** @type {Record<string, string>} */
    const headers = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${p}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'manual',
    });
    const text = await res.text();
    const json = (res.headers.get('content-type') ?? '').includes('json');
    return { status: res.status, body: json && text ? JSON.parse(text) : text, headers: res.headers };
  };
  return {
    get: (p) => call('GET', p),
    post: (p, body) => call('POST', p, body),
    patch: (p, body) => call('PATCH', p, body),
    put: (p, body) => call('PUT', p, body),
    delete: (p) => call('DELETE', p),
  };
}

/**
 * `POST /v1/keys/verify` of `key`: the verdict's `code` (`VALID`,
 * `REVOKED`, …). Verifying is itself an authenticated operation (scope
 * `keys:verify`), so it is asked as `caller` (the admin's key will do).
 * @param {string} base
 * @param {string} key the key to verify
 * @param {string} caller a credential allowed to verify
 * @returns {Promise<string>}
 */
export async function verify(base, key, caller) {
  const { status, body } = await api(base, caller).post('/v1/keys/verify', { key });
  assert.equal(status, 200, `verify answered ${status}: ${JSON.stringify(body)}`);
  return body.data.code;
}

// ---- accessibility ----

const require = createRequire(import.meta.url);
/** @type {string | undefined} */
let axeSource;

/**
 * @typedef {object} AxeTally
 * @property {number} pages pages checked
 * @property {number} blocking serious or critical violations found (rules × page)
 * @property {number} other minor or moderate violations found
 */
/** @type {AxeTally} */
const tally = { pages: 0, blocking: 0, other: 0 };

/** This process's axe checks so far. */
export function axeTally() {
  return { ...tally };
}

/**
 * Runs axe-core on the page and fails listing every violation of impact
 * `serious` or `critical` (none are allowed). axe is injected with
 * `page.evaluate`, which the page's Content-Security-Policy does not block
 * (a script tag would be). Each check is counted (axeTally) and, with
 * LATCHKEY_AXE_REPORT set, appended to that file as one JSON line.
 * @param {Page} page
 * @param {string} [what] names the page in the report (default: its path)
 */
export async function expectAccessible(page, what) {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.waitForLoadState();
  const injected = await page.evaluate(() => 'axe' in window);
  if (!injected) await page.evaluate(axeSource);
  /** @type {import('axe-core').AxeResults} */
  const results = await page.evaluate(() =>
    /** @type {typeof import('axe-core')} */ (/** @type {any} */ (window).axe).run(document, {
      resultTypes: ['violations'],
    }),
  );
  const name = what ?? new URL(page.url()).pathname;
  const blocking = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const other = results.violations.length - blocking.length;
  tally.pages += 1;
  tally.blocking += blocking.length;
  tally.other += other;
  const report = process.env.LATCHKEY_AXE_REPORT;
  if (report) {
    const line = {
      page: name,
      file: path.basename(process.argv[1] ?? ''),
      blocking: blocking.map((v) => v.id),
      other: results.violations.filter((v) => !blocking.includes(v)).map((v) => `${v.id} (${v.impact})`),
    };
    appendFileSync(report, `${JSON.stringify(line)}\n`);
  }
  const described = blocking.map(
    (v) =>
      `  ${v.impact} ${v.id}: ${v.help} (${v.helpUrl})\n` +
      v.nodes.map((n) => `    at ${n.target.join(' ')}: ${n.failureSummary ?? ''}`.replace(/\n/g, ' ')).join('\n'),
  );
  assert.equal(blocking.length, 0, `axe: ${blocking.length} serious or critical violation(s) on ${name}:\n${described.join('\n')}`);
}

// ---- small page helpers ----

/**
 * The value of a form's hidden `csrf` field on the page (hidden fields have
 * no role or label to find them by; they are found by name).
 * @param {Page} page
 * @returns {Promise<string>}
 */
export async function csrfField(page) {
  const value = await page.locator('input[type="hidden"][name="csrf"]').first().getAttribute('value');
  assert.ok(value, 'the page has a form with a hidden csrf field');
  return value;
}

/**
 * The directives of a Content-Security-Policy header, by name.
 * @param {string} header
 * @returns {Map<string, string[]>}
 */
export function parseCsp(header) {
  /** @type {Map<string, string[]>} */
  const directives = new Map();
  for (const part of header.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name && !directives.has(name.toLowerCase())) directives.set(name.toLowerCase(), sources);
  }
  return directives;
}
