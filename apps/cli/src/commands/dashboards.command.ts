import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { generateDashboardFiles } from '../../../../dashboards/src';

/** `arbiter dashboards`: regenerates the Grafana dashboards and alert rules committed under dashboards/. */
export function dashboardsCommand(): Command {
  return new Command('dashboards')
    .description(
      'regenerate the Grafana dashboards (dashboards/json) and alert rules (dashboards/provisioning/alerting) from dashboards/src',
    )
    .option('--dir <dir>', 'the dashboards directory', 'dashboards')
    .option('--check', 'write nothing; exit 1 if a committed file differs from what the code generates')
    .action((o: { dir: string; check?: boolean }) => {
      const stale: string[] = [];
      for (const file of generateDashboardFiles()) {
        const path = join(o.dir, file.path);
        if (o.check) {
          if (read(path) !== file.content) stale.push(path);
          continue;
        }
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, file.content);
        process.stderr.write(`wrote ${path}\n`);
      }
      if (stale.length) {
        process.stderr.write(`out of date (run npx arbiter dashboards): ${stale.join(', ')}\n`);
        process.exitCode = 1;
      }
    });
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
