import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPORT_FILE } from './accounting';

/** A fresh report per run; the services run from dist/, so it must be built. */
export default function globalSetup(): void {
  if (!existsSync(resolve(__dirname, '..', '..', '..', 'dist', 'apps', 'gateway', 'src', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm run test:faults does)');
  }
  if (!process.env.FAULTS_REPORT_APPEND) rmSync(REPORT_FILE, { force: true });
}
