/**
 * The built artifact: `npm pack` makes a tarball that installs into an empty
 * project (no registry needed: the package has no dependencies), whose three
 * entry points import, whose types compile, and whose client talks to a live
 * latchkey.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import { SDK_DIR, startServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';

const run = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let dir: string;
let server: TestServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'latchkey-sdk-pack-'));
  server = await startServer();
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await server?.stop();
});

it('npm pack makes a tarball that installs and works', async () => {
  // `npm test` has just built dist/ (what `prepack` does for a publish).
  assert.ok(existsSync(join(SDK_DIR, 'dist/index.js')), 'dist/ is built first (npm run build)');
  const packed = await run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
    cwd: SDK_DIR,
    timeout: 120_000,
  });
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  assert.ok(info);
  const files = info.files.map((f) => f.path);
  for (const f of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/middleware/express.js', 'dist/middleware/hono.d.ts']) {
    assert.ok(files.includes(f), `${f} is not in the tarball`);
  }
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('build/')), files.join(' '));

  const project = join(dir, 'app');
  rmSync(project, { recursive: true, force: true });
  await run('mkdir', ['-p', project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await run(npm, ['install', '--offline', '--no-audit', '--no-fund', join(dir, info.filename)], {
    cwd: project,
    timeout: 120_000,
  });
  assert.ok(readdirSync(join(project, 'node_modules/@latchkey/sdk/dist')).includes('index.js'));

  writeFileSync(
    join(project, 'main.mjs'),
    `import { Latchkey, LatchkeyError, RateLimitError } from '@latchkey/sdk';
import { latchkeyAuth as expressAuth } from '@latchkey/sdk/express';
import { latchkeyAuth as honoAuth } from '@latchkey/sdk/hono';
if (typeof expressAuth !== 'function' || typeof honoAuth !== 'function') throw new Error('no middleware');
if (!(new RateLimitError('x', { code: 'rate_limited' }) instanceof LatchkeyError)) throw new Error('errors');
const lk = new Latchkey();
const created = await lk.keys.create({ name: 'from the tarball', scopes: ['sandbox:read'] });
const verdict = await lk.keys.verify({ key: created.key, scopes: ['sandbox:read'] });
console.log(JSON.stringify({ code: verdict.code, org: (await lk.me()).org.id }));
`,
  );
  const out = await run(process.execPath, ['main.mjs'], {
    cwd: project,
    timeout: 60_000,
    env: { ...process.env, LATCHKEY_API_KEY: server.apiKey, LATCHKEY_API_URL: server.url },
  });
  assert.deepEqual(JSON.parse(out.stdout), { code: 'VALID', org: server.orgId });

  // The types ship too: a strict program against the installed package compiles.
  writeFileSync(
    join(project, 'check.ts'),
    `import { Latchkey, type Verdict, type VerifyCode } from '@latchkey/sdk';
const lk = new Latchkey({ envPrefix: 'RUNTOOLS', timeoutMs: 10_000, maxRetries: 2 });
export async function check(key: string): Promise<VerifyCode> {
  const verdict: Verdict = await lk.keys.verify({ key, scopes: ['sandbox:read'] });
  for await (const k of lk.keys.list({ allOrg: true })) k.id.toUpperCase();
  return verdict.code;
}
export async function mint(): Promise<boolean> {
  const created = await lk.keys.create({ name: 'ci', scopes: ['sandbox:create'], expiresIn: '30d' });
  return (await lk.keys.verify({ key: created.key, scopes: ['sandbox:create'] })).valid;
}
// @ts-expect-error: the types are real (with \`any\` this line would not be an error, and tsc would fail)
export const url: number = lk.baseUrl;
`,
  );
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2022', 'DOM'], types: [] },
      files: ['check.ts'],
    }),
  );
  await run(process.execPath, [join(SDK_DIR, 'node_modules/typescript/bin/tsc'), '-p', project], { timeout: 120_000 });
});
