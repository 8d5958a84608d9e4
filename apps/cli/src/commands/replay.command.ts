import { Command } from 'commander';
import { readNdjson } from '@app/ingest';
import { int } from '../output/options';
import { progress } from '../output/progress';
import { HttpReplayer, replayTargetOptions, resolveReplayTarget } from '../replay/http-replayer';

export function replayCommand(): Command {
  return replayTargetOptions(
    new Command('replay')
      .description('send an NDJSON traffic file into a running engine (catalog line first, then events in order)')
      .requiredOption('--file <file>', 'NDJSON: a `catalog` line (optional), then click / conversion / feedback lines')
      .option('--rate <n>', 'events per second (default: as fast as the engine takes them)', int)
      .option('--batch <n>', 'events per request', int, 500),
  ).action(async (o) => {
    const replayer = new HttpReplayer(await resolveReplayTarget(o), { rate: o.rate, batch: o.batch });
    const lines = (async function* () {
      for await (const l of readNdjson(o.file)) {
        if (l.error) throw new Error(l.error);
        yield l.value as { kind?: string } & Record<string, unknown>;
      }
    })();
    const result = await replayer.send(lines, progress('replay', Number.MAX_SAFE_INTEGER, false));
    process.stdout.write(`${JSON.stringify(result)}\n`);
  });
}
