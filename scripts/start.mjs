// @ts-check
/**
 * `npm start` (issue #13, item 5): builds only when what the build reads has
 * changed since the last successful build, then runs `dist/main.js` in this
 * process (so Ctrl-C and SIGTERM reach the service itself).
 *
 * "Changed" is a SHA-256 over the contents of the build's inputs (below),
 * kept in `dist/.build-stamp` after each successful `npm run build`.
 * Contents, not mtimes: a `git checkout` or a copy that keeps old mtimes
 * still rebuilds, and touching a file without changing it does not. A fresh
 * clone has no `dist/`, so no stamp, so it builds. `nest build` empties
 * `dist/` first, so a failed build leaves no stamp and the next start
 * builds again.
 *
 * Plain JavaScript (type-checked by `npm run check`) because it runs before
 * anything is compiled, and ts-node would add a second to every start.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, '.build-stamp');

/** What `npm run build` (nest build, then web/build.ts) reads. Unit specs are not built. */
const INPUT_DIRS = ['src', 'web'];
const INPUT_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json'];

/** @param {string} dir @returns {string[]} every file below `dir`, sorted */
function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : filesUnder(path);
      return entry.isFile() && !entry.name.endsWith('.spec.ts') ? [path] : [];
    });
}

/** @returns {string} the hash of every input's path and contents */
function inputsHash() {
  const hash = createHash('sha256');
  const files = [...INPUT_DIRS.flatMap((d) => filesUnder(join(ROOT, d))), ...INPUT_FILES.map((f) => join(ROOT, f))];
  for (const file of files) {
    hash.update(relative(ROOT, file).split('\\').join('/'));
    hash.update('\0');
    hash.update(existsSync(file) ? readFileSync(file) : '');
    hash.update('\0');
  }
  return hash.digest('hex');
}

const wanted = inputsHash();
const built = existsSync(STAMP) && existsSync(join(DIST, 'main.js')) ? readFileSync(STAMP, 'utf8').trim() : '';
if (built !== wanted) {
  process.stdout.write(built === '' ? 'No build yet: building…\n' : 'Sources changed: rebuilding…\n');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['run', 'build'], { cwd: ROOT, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.status !== 0) process.exit(result.status ?? 1);
  writeFileSync(STAMP, `${wanted}\n`);
}

await import(pathToFileURL(join(DIST, 'main.js')).href);
