// Removes the named build directories (a portable `rm -rf` for npm scripts).
import { rmSync } from 'node:fs';

for (const dir of process.argv.slice(2)) {
  rmSync(new URL(`../${dir}`, import.meta.url), { recursive: true, force: true });
}
