// Fails when src/generated/openapi.ts is not what openapi-typescript makes of
// ../../docs/openapi.json now (run `npm run generate` and commit the result).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const sdk = fileURLToPath(new URL('..', import.meta.url));
const committed = join(sdk, 'src/generated/openapi.ts');
const dir = mkdtempSync(join(tmpdir(), 'latchkey-openapi-ts-'));
try {
  const fresh = join(dir, 'openapi.ts');
  execFileSync(
    process.execPath,
    [join(sdk, 'node_modules/openapi-typescript/bin/cli.js'), join(sdk, '../../docs/openapi.json'), '--output', fresh],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  if (readFileSync(fresh, 'utf8') !== readFileSync(committed, 'utf8')) {
    console.error('src/generated/openapi.ts is stale: run `npm run generate` in sdks/typescript and commit it');
    process.exit(1);
  }
  console.log('src/generated/openapi.ts matches docs/openapi.json');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
