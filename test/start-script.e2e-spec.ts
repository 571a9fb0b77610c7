import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `npm start` builds only when the sources changed (issue #13, item 5):
 * `scripts/start.mjs` run in a throwaway project whose `npm run build`
 * counts its runs and, like `nest build`, empties `dist/` first.
 */
describe('npm start (scripts/start.mjs)', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'dhb-start-'));
    mkdirSync(join(root, 'scripts'));
    mkdirSync(join(root, 'src'));
    copyFileSync(join(__dirname, '..', 'scripts', 'start.mjs'), join(root, 'scripts', 'start.mjs'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'probe', scripts: { build: 'node build.js' } }));
    writeFileSync(
      join(root, 'build.js'),
      `const fs = require('fs');
fs.rmSync('dist', { recursive: true, force: true });
fs.appendFileSync('builds.log', 'x');
if (fs.readFileSync('src/main.ts', 'utf8').includes('broken')) process.exit(2);
fs.mkdirSync('dist');
fs.writeFileSync('dist/main.js', "console.log('service running')");
`,
    );
    writeFileSync(join(root, 'src', 'main.ts'), 'export const a = 1;\n');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const start = (): { status: number | null; stdout: string } => {
    const result = spawnSync(process.execPath, [join(root, 'scripts', 'start.mjs')], { cwd: root, encoding: 'utf8' });
    return { status: result.status, stdout: result.stdout };
  };
  const builds = (): number => readFileSync(join(root, 'builds.log'), 'utf8').length;

  it('builds on a fresh clone, not again when nothing changed (touched or not), again after an edit', () => {
    const first = start();
    expect(first).toEqual({
      status: 0,
      stdout: expect.stringMatching(/No build yet: building…[\s\S]*service running/),
    });
    expect(builds()).toBe(1);

    expect(start()).toEqual({ status: 0, stdout: 'service running\n' });
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'src', 'main.ts'), later, later);
    expect(start()).toEqual({ status: 0, stdout: 'service running\n' });
    expect(builds()).toBe(1);

    writeFileSync(join(root, 'src', 'main.ts'), 'export const a = 2;\n');
    expect(start().stdout).toMatch(/Sources changed: rebuilding…[\s\S]*service running/);
    expect(builds()).toBe(2);
    // Unit specs are not built: adding one does not rebuild.
    writeFileSync(join(root, 'src', 'main.spec.ts'), 'test;\n');
    expect(start()).toEqual({ status: 0, stdout: 'service running\n' });
    expect(builds()).toBe(2);
  });

  it('stops with the build’s exit code when the build fails, and builds again on the next start', () => {
    writeFileSync(join(root, 'src', 'main.ts'), 'broken\n');
    const failed = start();
    expect(failed.status).toBe(2);
    expect(failed.stdout).not.toContain('service running');
    writeFileSync(join(root, 'src', 'main.ts'), 'export const a = 2;\n');
    // Same sources as the last good build, but that build's output is gone: it builds.
    const before = builds();
    expect(start().stdout).toMatch(/No build yet: building…[\s\S]*service running/);
    expect(builds()).toBe(before + 1);
  });
});
