import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface ServiceProcess {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  errors(): string;
  /** Resolves with the output once `pattern` appears in stdout; rejects at the deadline or on exit. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited(timeoutMs?: number): Promise<number | null>;
}

/**
 * How the service is started: from the sources through ts-node, or with
 * TEST_SERVICE_BUILD=1 (`.ci/run`, right after `npm run build`) as the built
 * `dist/main.js`, as `npm run start:prod` runs it, which starts seconds
 * sooner than compiling the sources on every start.
 */
function serviceArgs(root: string): string[] {
  if (process.env.TEST_SERVICE_BUILD !== '1')
    return ['-r', 'ts-node/register/transpile-only', join(root, 'src', 'main.ts')];
  const built = join(root, 'dist', 'main.js');
  if (!existsSync(built)) throw new Error(`TEST_SERVICE_BUILD=1 but ${built} is missing: run npm run build first`);
  return [built];
}

/** Runs the service the way `npm start` runs it, with exactly the given environment. */
export function runService(env: Record<string, string>): ServiceProcess {
  const root = join(__dirname, '..', '..');
  const child = spawn(process.execPath, serviceArgs(root), {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => stdout,
    errors: () => stderr,
    waitForOutput: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        // Fires long after `check` and `timer` exist.
        const deadline = setTimeout(() => {
          if (!check()) {
            clearInterval(timer);
            reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
          }
        }, timeoutMs);
        const check = (): boolean => {
          const match = pattern.exec(stdout);
          if (match) {
            clearInterval(timer);
            clearTimeout(deadline);
            resolve(match);
          }
          return match !== null;
        };
        const timer = setInterval(check, 25);
        void exit.then((code) => {
          if (!check()) {
            clearInterval(timer);
            clearTimeout(deadline);
            reject(new Error(`service exited (${code}) before printing ${pattern}:\n${stdout}\n${stderr}`));
          }
        });
      }),
    exited: (timeoutMs = 30_000) => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('service did not exit')), timeoutMs);
      });
      return Promise.race([exit, deadline]).finally(() => clearTimeout(timer));
    },
  };
}
