/**
 * What verifying through the middleware costs, against calling
 * `POST /v1/keys/verify` directly (issue 21). One latchkey (the release
 * build if there is one: LATCHKEY_BIN), the apps of bench/apps.ts in a
 * process of their own, and this process as the one client, sending one
 * request at a time over kept-alive connections. Each round sends N requests
 * of each series in turn (interleaved, so a slower moment of the machine hits
 * every series alike); the medians are over every round.
 *
 *   node build/bench/middleware.js        (after `npm run build:test`)
 *   ROUNDS=5 N=400 WARMUP=300             (defaults)
 *
 * Series: `verify (fetch)` POST /v1/keys/verify with a plain fetch; `verify
 * (SDK)` the same through `lk.keys.verify`; `<app> /open` the app's route
 * without the middleware; `<app> + latchkeyAuth` the protected route.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Latchkey } from '../src/index.js';
import { REPO_ROOT, startServer } from '../test/helpers/server.js';

const ROUNDS = Number(process.env['ROUNDS'] ?? 5);
const N = Number(process.env['N'] ?? 400);
const WARMUP = Number(process.env['WARMUP'] ?? 300);

const release = join(REPO_ROOT, 'target/release/latchkey');
if (!process.env['LATCHKEY_BIN'] && existsSync(release)) process.env['LATCHKEY_BIN'] = release;
const binary = process.env['LATCHKEY_BIN'] ?? join(REPO_ROOT, 'target/debug/latchkey');

const server = await startServer();
const admin = new Latchkey({ apiKey: server.apiKey, baseUrl: server.url });
const service = (await admin.keys.create({ name: 'bench service', scopes: ['keys:verify'] })).key;
const caller = (await admin.keys.create({ name: 'bench caller', scopes: ['sandbox:read'] })).key;
const lk = new Latchkey({ apiKey: service, baseUrl: server.url, maxRetries: 0 });

const apps = spawn(process.execPath, [fileURLToPath(new URL('./apps.js', import.meta.url))], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, LATCHKEY_API_KEY: service, LATCHKEY_API_URL: server.url },
});
const ports = await new Promise<{ express: number; hono: number }>((ok, fail) => {
  apps.on('exit', (code) => fail(new Error(`the apps exited (${code})`)));
  createInterface({ input: apps.stdout }).once('line', (line) => ok(JSON.parse(line) as { express: number; hono: number }));
});

async function expectOk(res: Response, what: string): Promise<void> {
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${what}: ${res.status} ${body}`);
}

const verifyBody = JSON.stringify({ key: caller, scopes: ['sandbox:read'] });
const series: [string, () => Promise<void>][] = [
  [
    'verify (fetch)',
    async () => {
      const res = await fetch(`${server.url}/v1/keys/verify`, {
        method: 'POST',
        headers: { 'x-api-key': service, 'content-type': 'application/json' },
        body: verifyBody,
      });
      await expectOk(res, 'verify');
    },
  ],
  [
    'verify (SDK)',
    async () => {
      const v = await lk.keys.verify({ key: caller, scopes: ['sandbox:read'] });
      if (!v.valid) throw new Error(v.code);
    },
  ],
  ['Express /open', async () => expectOk(await fetch(`http://127.0.0.1:${ports.express}/open`), 'express open')],
  [
    'Express + latchkeyAuth',
    async () =>
      expectOk(
        await fetch(`http://127.0.0.1:${ports.express}/v1/sandboxes`, { headers: { 'x-api-key': caller } }),
        'express',
      ),
  ],
  ['Hono /open', async () => expectOk(await fetch(`http://127.0.0.1:${ports.hono}/open`), 'hono open')],
  [
    'Hono + latchkeyAuth',
    async () =>
      expectOk(await fetch(`http://127.0.0.1:${ports.hono}/v1/sandboxes`, { headers: { 'x-api-key': caller } }), 'hono'),
  ],
];

const samples = new Map<string, number[]>(series.map(([name]) => [name, []]));
try {
  for (const [, call] of series) for (let i = 0; i < WARMUP; i++) await call();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, call] of series) {
      const out = samples.get(name) ?? [];
      for (let i = 0; i < N; i++) {
        const t = process.hrtime.bigint();
        await call();
        out.push(Number(process.hrtime.bigint() - t) / 1e3);
      }
    }
  }
} finally {
  apps.kill();
  await server.stop();
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};
const median = (name: string): number => quantile(samples.get(name) ?? [], 0.5);
const direct = median('verify (fetch)');
console.log(`latchkey: ${binary}; ${ROUNDS} rounds x ${N} requests a series, ${WARMUP} warm-up; one request at a time`);
console.log('| series | median µs | p90 µs | median − verify (fetch) µs |');
console.log('|---|---|---|---|');
for (const [name] of series) {
  const xs = samples.get(name) ?? [];
  const m = quantile(xs, 0.5);
  console.log(`| ${name} | ${m.toFixed(0)} | ${quantile(xs, 0.9).toFixed(0)} | ${(m - direct).toFixed(0)} |`);
}
console.log(
  `overhead of the middleware over its app's open route: Express ${(median('Express + latchkeyAuth') - median('Express /open')).toFixed(0)} µs, ` +
    `Hono ${(median('Hono + latchkeyAuth') - median('Hono /open')).toFixed(0)} µs`,
);
