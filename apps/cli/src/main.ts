#!/usr/bin/env -S node --max-semi-space-size=32
import 'reflect-metadata';
import { Command } from 'commander';
import { ConfigError } from '@app/config';
import { backtestCommand } from './commands/backtest.command';
import { benchCommand } from './commands/bench.command';
import { demoCommand } from './commands/demo.command';
import { docsCommand } from './commands/docs.command';
import { dlqCommand } from './commands/dlq.command';
import { dashboardsCommand } from './commands/dashboards.command';
import { evaluateCommand } from './commands/evaluate.command';
import { replayCommand } from './commands/replay.command';
import { simulateCommand } from './commands/simulate.command';
import { trainCommand } from './commands/train.command';
import { modelCommand } from './commands/model.command';
import { migrateCommand } from './commands/migrate.command';
import { startCommand } from './commands/start.command';
import { rangesCommand } from './commands/ranges.command';

const program = new Command('arbiter')
  .description('Arbiter: real-time fraud detection and partner analytics for affiliate networks')
  .showHelpAfterError()
  .addCommand(startCommand())
  .addCommand(demoCommand())
  .addCommand(migrateCommand())
  .addCommand(simulateCommand())
  .addCommand(replayCommand())
  .addCommand(trainCommand())
  .addCommand(evaluateCommand())
  .addCommand(backtestCommand())
  .addCommand(modelCommand())
  .addCommand(benchCommand())
  .addCommand(rangesCommand())
  .addCommand(dlqCommand())
  .addCommand(docsCommand())
  .addCommand(dashboardsCommand());

program.parseAsync(process.argv).catch((e) => {
  process.stderr.write(`arbiter: ${e instanceof ConfigError ? e.message : (e as Error).message}\n`);
  process.exit(e instanceof ConfigError ? 2 : 1);
});
