import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Asset names are flat and plain (app.js, app.css, their maps): nothing that could climb out of the folder. */
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Where `npm run build` puts the dashboard (`dist/web`, built from web/ by
 * web/build.ts): beside this module in dist, or the project's dist when the
 * service runs from its sources (ts-node, the tests).
 */
export function dashboardDir(): string | undefined {
  const candidates = [join(__dirname, '..', 'web'), join(__dirname, '..', '..', 'dist', 'web')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html')));
}

/** The path of a built asset, or undefined when there is no such file. */
export function assetPath(dir: string, name: string): string | undefined {
  if (!ASSET_NAME.test(name)) return undefined;
  const path = join(dir, name);
  return existsSync(path) ? path : undefined;
}
