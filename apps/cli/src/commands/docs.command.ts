import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { reasonCodesMarkdown } from '@app/rules';

export function docsCommand(): Command {
  return new Command('docs')
    .description('regenerate the documentation pages that come from code (docs/reason-codes.md)')
    .option('--dir <dir>', 'where the docs live', 'docs')
    .action((o: { dir: string }) => {
      mkdirSync(o.dir, { recursive: true });
      const file = join(o.dir, 'reason-codes.md');
      writeFileSync(file, reasonCodesMarkdown());
      process.stderr.write(`wrote ${file}\n`);
    });
}
