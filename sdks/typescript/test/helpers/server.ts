/**
 * A real latchkey for the tests: the debug binary (`cargo build -p latchkey`,
 * or `LATCHKEY_BIN`), a fresh data directory, `latchkey init`, then
 * `latchkey serve` on a free loopback port, stopped by the test's `after`.
 */
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);

/** The repository's root (the tests run from `sdks/typescript/build/test/helpers`). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../..');
/** The SDK's directory. */
export const SDK_DIR = join(REPO_ROOT, 'sdks/typescript');
const BIN = process.env['LATCHKEY_BIN'] ?? join(REPO_ROOT, 'target/debug/latchkey');

/** Open sign-up, and limits that keep the tests' many sign-ins and failures from being throttled. */
export const RELAXED_LIMITS = `signup = true
signups_per_hour_per_ip = 1000000
failed_auth_per_minute = 1000000
login_failures_per_account_and_ip = 1000000
login_failures_per_account = 1000000
login_failures_per_ip = 1000000
`;

/** The tests skip PostgreSQL (`LATCHKEY_TEST_BACKENDS=sqlite`). */
export const NO_POSTGRES = process.env['LATCHKEY_TEST_BACKENDS'] === 'sqlite';
/** The tests' PostgreSQL server (`LATCHKEY_TEST_DATABASE_URL`). */
export const POSTGRES_URL = new URL(process.env['LATCHKEY_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432');

/** A database name no test used (latchkey creates it), its URL, and how to drop it afterwards. */
export function freshDatabase(): { name: string; url: string; drop: () => Promise<unknown> } {
  const name = `sdk_ts_${randomBytes(6).toString('hex')}`;
  const url = new URL(POSTGRES_URL.href);
  url.pathname = `/${name}`;
  const psql = ['-h', POSTGRES_URL.hostname, '-p', POSTGRES_URL.port || '5432', '-U', POSTGRES_URL.username || 'postgres'];
  const drop = (): Promise<unknown> =>
    run('psql', [...psql, '-d', 'postgres', '-qAtc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { timeout: 15_000 });
  return { name, url: url.href, drop };
}

/** A running latchkey and its first admin. */
export interface TestServer {
  url: string;
  /** The admin's `*` key (what `latchkey init` prints). */
  apiKey: string;
  orgId: string;
  userId: string;
  email: string;
  password: string;
  /**
   * A service key of the organization holding `scopes`, minted as the
   * operator does (`latchkey admin create-service-key`): the only way to a
   * reserved scope such as `oauth:token`.
   */
  serviceKey(scopes: string[]): Promise<string>;
  /** Runs `latchkey admin ARGS` on the server's data directory and database (what an operator does). */
  admin(args: string[]): Promise<string>;
  /** What the server wrote to stderr so far (its log). */
  log(): string;
  stop(): Promise<void>;
}

/** How to start a server. */
export interface StartOptions {
  /** `latchkey.toml` (default: {@link RELAXED_LIMITS}). */
  toml?: string;
  /** PostgreSQL instead of the embedded SQLite database. */
  databaseUrl?: string;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts a latchkey with a fresh organization. */
export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-sdk-ts-'));
  const db = options.databaseUrl === undefined ? [] : ['--database-url', options.databaseUrl];
  const email = 'admin@example.com';
  const init = await run(BIN, ['init', '--org', 'Acme', '--email', email, '--data-dir', dataDir, '--json', ...db], {
    timeout: 60_000,
  });
  const creds = JSON.parse(init.stdout) as { orgId: string; userId: string; apiKey: string; password: string };
  writeFileSync(join(dataDir, 'latchkey.toml'), options.toml ?? RELAXED_LIMITS);
  const child = spawn(BIN, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...db], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env['RUST_LOG'] ?? 'info' },
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`latchkey did not start in 30 s:\n${stderr}`)), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const m = /latchkey listening on (\S+)/.exec(stdout);
      if (m?.[1]) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`latchkey exited (${code}) before listening:\n${stderr}`));
    });
  });
  return {
    url,
    apiKey: creds.apiKey,
    orgId: creds.orgId,
    userId: creds.userId,
    email,
    password: creds.password,
    serviceKey: async (scopes) => {
      const args = ['admin', 'create-service-key', '--org', creds.orgId, '--json', '--data-dir', dataDir, ...db];
      for (const scope of scopes) args.push('--scope', scope);
      const out = await run(BIN, args, { timeout: 60_000 });
      return (JSON.parse(out.stdout) as { apiKey: string }).apiKey;
    },
    admin: async (args) => {
      const out = await run(BIN, ['admin', ...args, '--data-dir', dataDir, ...db], { timeout: 60_000 });
      return out.stdout;
    },
    log: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((done) => child.once('exit', () => done()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A loopback port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  await new Promise<void>((ok) => server.close(() => ok()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/**
 * A TCP server that accepts connections and never answers (for timeouts);
 * `requests()` counts the connections that sent something (fetch may open
 * a spare connection that carries no request).
 */
export async function silentServer(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server: NetServer = createServer((socket) => {
    socket.once('data', () => count++);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => sockets.delete(socket));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests: () => count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** A `fetch` that records the status of every answer (or `error`) it passes through. */
export function recordingFetch(): { fetch: typeof fetch; statuses: (number | 'error')[] } {
  const statuses: (number | 'error')[] = [];
  const wrapped: typeof fetch = async (input, init) => {
    try {
      const res = await fetch(input, init);
      statuses.push(res.status);
      return res;
    } catch (err) {
      statuses.push('error');
      throw err;
    }
  };
  return { fetch: wrapped, statuses };
}

/**
 * A TCP proxy on a loopback port to `target`: `cut()` closes it and every
 * connection through it (what lies behind becomes unreachable: connections
 * are refused), `restore()` listens on the same port again.
 */
export async function tcpProxy(
  targetHost: string,
  targetPort: number,
): Promise<{ port: number; cut: () => Promise<void>; restore: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number): Promise<void> => new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  await listen(0);
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  const port = address.port;
  return {
    port,
    cut: async () => {
      const closed = new Promise<void>((ok) => server.close(() => ok()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    restore: () => listen(port),
  };
}
