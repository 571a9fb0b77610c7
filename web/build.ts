import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

/** Where `npm run build` puts the dashboard; `DashboardModule` serves it from there. */
export const WEB_OUT_DIR = join(__dirname, '..', 'dist', 'web');

/**
 * Bundles the dashboard (web/src, with uPlot and its stylesheet) into
 * `app.js` and `app.css`, beside `index.html`. No network, no CDN: the
 * browser gets everything from the service.
 */
export async function buildWeb(outDir = WEB_OUT_DIR): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: { app: join(__dirname, 'src', 'main.ts') },
    outdir: outDir,
    bundle: true,
    minify: true,
    sourcemap: 'linked',
    format: 'iife',
    target: ['chrome110', 'firefox110', 'safari16'],
    legalComments: 'linked',
    logLevel: 'warning',
  });
  copyFileSync(join(__dirname, 'public', 'index.html'), join(outDir, 'index.html'));
}

if (require.main === module) {
  buildWeb().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
