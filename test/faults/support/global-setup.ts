import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { REPORT_FILE } from './accounting';

const ROOT = resolve(__dirname, '..', '..', '..');

/** The newest modification time of the TypeScript sources that `npm run build` compiles. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * A fresh report per run; the services run from dist/, so it must be built, and from these sources
 * (`npm run test:faults` builds first; CI runs `test:faults:built` right after its own build).
 */
export default function globalSetup(): void {
  const built = join(ROOT, 'dist', 'apps', 'gateway', 'src', 'main.js');
  if (!existsSync(built)) {
    throw new Error('dist/ is missing: run `npm run build` first (npm run test:faults does)');
  }
  const sources = Math.max(...['apps', 'libs', join('dashboards', 'src')].map((d) => newestSource(join(ROOT, d))));
  if (sources > statSync(built).mtimeMs) {
    throw new Error('dist/ is older than the sources: run `npm run build` first (npm run test:faults does)');
  }
  if (!process.env.FAULTS_REPORT_APPEND) rmSync(REPORT_FILE, { force: true });
}
