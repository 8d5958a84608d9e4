import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Command } from 'commander';
import { Simulator, TRAFFIC_PROFILES, catalogLine, isTrafficProfile, userAgentListTraffic } from '@app/simulator';
import { progress } from '../output/progress';
import { int } from '../output/options';
import { HttpReplayer, replayTargetOptions, resolveReplayTarget } from '../replay/http-replayer';

export function simulateCommand(): Command {
  return replayTargetOptions(
    new Command('simulate')
      .description('generate realistic, labelled affiliate traffic with fraud patterns (reproducible with --seed)')
      .option('--events <n>', 'about this many events (clicks, conversions, feedback)', int, 100_000)
      .option('--out <file>', 'write NDJSON (a catalog line, then events in time order)')
      .option('--publish', 'send the traffic to a running engine over HTTP instead')
      .option('--rate <n>', 'with --publish: events per second (default: as fast as it takes them)', int)
      .option('--seed <n>', 'random seed', int, 42)
      .option('--hours <n>', 'hours of traffic', int, 72)
      .option('--warmup-hours <n>', 'leading hours whose events carry no label (they warm the windows up)', (v) => Number(v), 12)
      .option('--start <iso>', 'time of the first event (default: --hours before now)')
      .option('--partitions <n>', 'scorer partitions the click ids are minted for', int, 1)
      .option(
        '--profile <name>',
        `how the legitimate traffic looks: ${Object.entries(TRAFFIC_PROFILES)
          .map(([name, text]) => `${name} (${text})`)
          .join('; ')}`,
        'network',
      )
      .option(
        '--user-agent-lists',
        'instead: one click per declared crawler of the public crawler-user-agents list (fraud) and per browser of the user-agents package (legitimate), residential addresses, no referrer, no catalog line (with --out)',
      ),
  ).action(async (o) => {
    if (!o.out === !o.publish) throw new Error('give exactly one of --out FILE or --publish');
    if (!isTrafficProfile(o.profile)) throw new Error(`--profile is one of ${Object.keys(TRAFFIC_PROFILES).join(', ')}`);
    const start = o.start ? new Date(o.start) : new Date(Date.now() - o.hours * 3600_000);
    if (Number.isNaN(start.getTime())) throw new Error('--start must be an ISO-8601 time');
    const sim = new Simulator({
      seed: o.seed,
      events: o.events,
      hours: o.hours,
      start,
      partitions: o.partitions,
      warmupHours: o.warmupHours,
      profile: o.profile,
    });
    if (o.userAgentLists) {
      if (!o.out) throw new Error('--user-agent-lists writes a file: give --out');
      const out = createWriteStream(o.out);
      let n = 0;
      for (const e of userAgentListTraffic({ seed: o.seed, start, partitions: o.partitions })) {
        if (!out.write(`${JSON.stringify(e)}\n`)) await once(out, 'drain');
        n++;
      }
      out.end();
      await once(out, 'finish');
      process.stderr.write(`wrote ${n} clicks to ${o.out}\n`);
      return;
    }
    if (o.out) {
      const out = createWriteStream(o.out);
      const bar = progress('simulate', o.events);
      out.write(`${JSON.stringify(catalogLine(sim.catalog))}\n`);
      let n = 0;
      for (const e of sim.events()) {
        if (!out.write(`${JSON.stringify(e)}\n`)) await once(out, 'drain');
        if (++n % 1000 === 0) bar.update(n);
      }
      bar.stop();
      out.end();
      await once(out, 'finish');
      process.stderr.write(`wrote ${n} events to ${o.out}\n`);
      return;
    }
    const replayer = new HttpReplayer(await resolveReplayTarget(o), { rate: o.rate });
    await replayer.seed(catalogLine(sim.catalog));
    const result = await replayer.send(sim.events(), progress('publish', o.events));
    process.stdout.write(`${JSON.stringify(result)}\n`);
  });
}
