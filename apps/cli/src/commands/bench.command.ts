import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { rootLogger } from '@app/observability';
import { ENGINE_NODE_FLAGS } from '../engine-flags';
import { cpuSeconds, interrupted, localServers, peakRssMiB, serverCpuSeconds, spawnEngine } from '../bench/engine-process';
import { IngestResult, ingestScenario } from '../bench/ingest.scenario';
import { jetStreamBaseline } from '../bench/jetstream.scenario';
import { memoryScenario } from '../bench/memory.scenario';
import { clickCheckScenario } from '../bench/click-check.scenario';
import { modelScenario } from '../bench/model.scenario';
import { RecorderBenchResult, recorderScenario } from '../bench/recorder.scenario';
import { Figure, atLeast, atMost, medianOfRuns, ratio, renderTable } from '../bench/report';
import { scoringAsScorer, scoringScenario } from '../bench/scoring.scenario';
import { int } from '../output/options';

const SCENARIOS = ['endToEnd', 'scoring', 'clickCheck', 'model', 'recorder', 'memory', 'baselines'] as const;
type Scenario = (typeof SCENARIOS)[number];

/**
 * The engine's two shapes (DESIGN §10 sets the targets for both): `embedded` is `arbiter start`, every
 * service in one process on the embedded database; `split` is one process per service on the
 * PostgreSQL of `--database-url`.
 */
const SHAPES = ['embedded', 'split'] as const;
type Shape = (typeof SHAPES)[number];

/** Where the end-to-end and recorder scenarios run: one shape, or each of `--shapes` in turn. */
interface ShapeRun {
  /** Null for the single shape `--split` and `--database-url` describe (the JSON's flat keys). */
  shape: Shape | null;
  split: boolean;
  databaseUrl?: string;
}

export function shapeRuns(o: { shapes?: string; split?: boolean; databaseUrl?: string }): ShapeRun[] {
  if (!o.shapes) return [{ shape: null, split: !!o.split, databaseUrl: o.databaseUrl }];
  const shapes = [...new Set(o.shapes.split(',').map((s) => s.trim()))];
  const unknown = shapes.filter((s) => !(SHAPES as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`unknown shape(s): ${unknown.join(', ')} (known: ${SHAPES.join(', ')})`);
  if (o.split) throw new Error('--shapes names the shapes itself: leave out --split');
  if (shapes.includes('split') && !o.databaseUrl) throw new Error('the split shape needs --database-url (PostgreSQL)');
  return (shapes as Shape[]).map((shape) =>
    shape === 'split' ? { shape, split: true, databaseUrl: o.databaseUrl } : { shape, split: false },
  );
}

interface BenchOptions {
  scenarios: string;
  repeat: number;
  model: string;
  seconds: number;
  events: number;
  batch: number;
  concurrency: number;
  latencyRate: number;
  latencySeconds: number;
  scoringEvents: number;
  clickChecks: number;
  recorderRows: number;
  memoryClicks: number;
  baselineMessages: number;
  databaseUrl?: string;
  natsUrl: string;
  shapes?: string;
  json?: boolean;
  profile?: string;
  split?: boolean;
  partitions: number;
  recorders: number;
}

export function benchCommand(): Command {
  return new Command('bench')
    .description(
      'measure the engine on this machine against the performance targets (DESIGN §10) and their raw baselines; ' +
        'prints one JSON object (a table instead on a terminal, unless --json)',
    )
    .option('--scenarios <list>', `comma-separated: ${SCENARIOS.join(', ')}`, SCENARIOS.join(','))
    .option('--repeat <n>', 'run every scenario this many times and report the median of each figure', int, 1)
    .option('--model <file>', 'model for the scoring, inference and memory measurements', 'models/default/model.json')
    .option('--seconds <n>', 'end to end: offer clicks as fast as the gateway takes them for this long', int, 60)
    .option('--events <n>', 'end to end: at most this many clicks in the sustained run', int, 2_000_000)
    .option('--batch <n>', 'end to end: clicks per request', int, 500)
    .option('--concurrency <n>', 'end to end: requests in flight', int, 4)
    .option('--latency-rate <n>', 'end to end: the fixed offered rate (events/s) for the latency run', int, 2000)
    .option('--latency-seconds <n>', 'end to end: how long the fixed-rate run lasts', int, 30)
    .option('--scoring-events <n>', 'scoring: simulated events through the hot path', int, 100_000)
    .option('--click-checks <n>', 'clickCheck: simulated clicks through the tracking link’s click-time checks', int, 100_000)
    .option('--recorder-rows <n>', 'recorder: rows written through the recorder path and the raw baseline', int, 100_000)
    .option('--memory-clicks <n>', 'memory: clicks in attribution state', int, 1_000_000)
    .option('--baseline-messages <n>', 'baselines: acked JetStream publishes to time', int, 100_000)
    .option('--database-url <url>', 'end to end and recorder: database to use (default: an embedded one)')
    .option('--nats-url <url>', 'end to end and baselines: NATS to use', 'nats://127.0.0.1:4222')
    .option('--split', 'end to end: every service in its own process, as in production (needs --database-url)')
    .option(
      '--shapes <list>',
      `end to end and recorder: measure each of these engine shapes in the same run, comma-separated: ${SHAPES.join(', ')} ` +
        '(embedded: arbiter start on the embedded database; split: one process per service on --database-url); ' +
        "their figures go under the JSON's shapes key",
    )
    .option('--partitions <n>', 'end to end: scorer partitions; with --split one scorer process per partition', int, 1)
    .option('--recorders <n>', 'end to end, with --split: recorder processes sharing the work', int, 1)
    .option('--profile <dir>', 'end to end: write a CPU profile of the engine under test (node --cpu-prof) into this directory')
    .option('--json', 'print only the JSON object, on one line')
    .action(async (o: BenchOptions) => {
      try {
        await runBench(o);
      } catch (e) {
        // Interrupted: the engines are being stopped, and the process exits when they are (engine-process.ts).
        if (interrupted()) await new Promise(() => undefined);
        throw e;
      }
    });
}

async function runBench(o: BenchOptions): Promise<void> {
  const wanted = new Set(o.scenarios.split(',').map((s) => s.trim()));
  const unknown = [...wanted].filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`unknown scenario(s): ${unknown.join(', ')}`);
  // stdout carries the result: this process's own logs (embedded database, migrations) only when they matter.
  rootLogger(process.env.LOG_LEVEL ?? 'warn');
  const say = process.stderr.isTTY ? (s: string) => process.stderr.write(`${s}\n`) : () => undefined;
  const result: Record<string, unknown> = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    at: new Date().toISOString(),
    repeat: o.repeat,
  };
  const runs = shapeRuns(o);
  const repeated = async <T>(
    name: Scenario,
    run: (i: number) => Promise<T> | T,
    store: (median: T) => void = (median) => (result[name] = median),
    label = '',
  ): Promise<T | undefined> => {
    if (!wanted.has(name)) return undefined;
    const results: T[] = [];
    for (let i = 0; i < o.repeat; i++) {
      say(`  ${name}${label} ${o.repeat > 1 ? `(run ${i + 1} of ${o.repeat}) ` : ''}…`);
      results.push(await run(i));
    }
    const median = medianOfRuns(results);
    store(median);
    return median;
  };

  const baselines = await repeated('baselines', () =>
    jetStreamBaseline({ natsUrl: o.natsUrl, messages: o.baselineMessages, inFlight: o.batch * o.concurrency }),
  );
  // The end-to-end and recorder scenarios run once per shape; the others do not depend on it.
  const perShape: { run: ShapeRun; endToEnd?: EndToEndResult; recorder?: RecorderBenchResult }[] = [];
  const shaped: Record<string, Record<string, unknown>> = {};
  for (const run of runs) {
    const into = (name: Scenario) => (run.shape ? (median: unknown) => ((shaped[run.shape!] ??= {})[name] = median) : undefined);
    const label = run.shape ? ` (${run.shape})` : '';
    const endToEnd = await repeated(
      'endToEnd',
      () => endToEndRun({ ...o, split: run.split, databaseUrl: run.databaseUrl }, say),
      into('endToEnd'),
      label,
    );
    const recorder = await repeated(
      'recorder',
      () => recorderScenario({ databaseUrl: run.databaseUrl, rows: o.recorderRows, batch: 1000, concurrency: 2 }),
      into('recorder'),
      label,
    );
    perShape.push({ run, endToEnd, recorder });
  }
  if (runs[0].shape) result.shapes = shaped;
  // In this process (the series kept since the first bench), then in one started with the scorer's Node flags.
  const scoring = await repeated('scoring', async () => {
    const options = { events: o.scoringEvents, model: o.model };
    const here = scoringScenario(options);
    return { ...here, asScorer: await scoringAsScorer(options) };
  });
  const clickCheck = await repeated('clickCheck', () => clickCheckScenario({ clicks: o.clickChecks }));
  const model = await repeated('model', () => modelScenario(o.model));
  const memory = await repeated('memory', () => memoryScenario({ clicks: o.memoryClicks, model: o.model }));

  // Each figure and its baseline are medians over the runs, and the ratio is theirs (a scenario's own
  // ratio field is the median of the per-run ratios).
  const figures: Figure[] = [];
  const publishRate = baselines?.publishesPerSecond ?? null;
  for (const { run, endToEnd } of perShape)
    if (endToEnd) figures.push(...endToEndFigures(endToEnd, publishRate, o, run.shape ? ` (${shapeName(run)})` : ''));
  if (scoring)
    figures.push({
      figure: 'scoring hot path, one core',
      value: scoring.eventsPerSecond,
      unit: 'events/s',
      target: '≥ 150,000',
      met: atLeast(scoring.eventsPerSecond, 150_000),
      baseline: 'rules only',
      baselineValue: scoring.rulesOnlyEventsPerSecond,
      ratio: ratio(scoring.eventsPerSecond, scoring.rulesOnlyEventsPerSecond),
    });
  if (scoring?.asScorer)
    figures.push({
      figure: `scoring hot path, one core, with the scorer's Node flags (${ENGINE_NODE_FLAGS.join(' ')})`,
      value: scoring.asScorer.eventsPerSecond,
      unit: 'events/s',
      target: '≥ 150,000',
      met: atLeast(scoring.asScorer.eventsPerSecond, 150_000),
      baseline: 'rules only',
      baselineValue: scoring.asScorer.rulesOnlyEventsPerSecond,
      ratio: ratio(scoring.asScorer.eventsPerSecond, scoring.asScorer.rulesOnlyEventsPerSecond),
    });
  if (clickCheck)
    figures.push({
      figure: 'click-time checks on the tracking link, p99 added',
      value: clickCheck.latency.p99,
      unit: 'ms',
      target: '≤ 1',
      met: atMost(clickCheck.latency.p99, 1),
    });
  if (model)
    figures.push({
      figure: 'model predictions, one core',
      value: model.predictionsPerSecond,
      unit: '/s',
      target: '≥ 1,000,000',
      met: atLeast(model.predictionsPerSecond, 1_000_000),
      baseline: 'ml-random-forest',
      baselineValue: model.libraryPredictionsPerSecond,
      ratio: ratio(model.predictionsPerSecond, model.libraryPredictionsPerSecond),
    });
  for (const { recorder } of perShape) if (recorder) figures.push(...recorderFigures(recorder));
  if (memory)
    figures.push({
      figure: `scorer memory, ${memory.clicksInState.toLocaleString('en-US')} clicks`,
      value: memory.rssMiB,
      unit: 'MiB RSS',
      target: '≤ 1,024',
      met: atMost(memory.rssMiB, 1024),
      baseline: 'empty process',
      baselineValue: memory.baselineRssMiB,
      ratio: ratio(memory.rssMiB, memory.baselineRssMiB),
    });
  if (memory)
    figures.push({
      figure: `causal-feature state at its caps (${memory.causalAtCap.historyKeysCap.toLocaleString('en-US')} IPs and devices each, ${memory.causalAtCap.offerKeysCap.toLocaleString('en-US')} offer × source keys; part of the scorer memory)`,
      value: memory.causalAtCap.rssMiB,
      unit: 'MiB RSS',
      target: 'bounded',
      met: null,
      baseline: 'V8 heap + typed arrays',
      baselineValue: memory.causalAtCap.heapAndArraysMiB,
      ratio: ratio(memory.causalAtCap.rssMiB, memory.causalAtCap.heapAndArraysMiB),
    });
  if (baselines)
    figures.push({
      figure: "JetStream acked publishes, engine's publisher",
      value: baselines.enginePublisherPerSecond,
      unit: '/s',
      target: '',
      met: null,
      baseline: 'client js.publish',
      baselineValue: baselines.publishesPerSecond,
      ratio: ratio(baselines.enginePublisherPerSecond, baselines.publishesPerSecond),
    });
  result.figures = figures;

  if (process.stdout.isTTY && !o.json) process.stdout.write(`${renderTable(figures)}\n\n(--json for every figure)\n`);
  else process.stdout.write(`${JSON.stringify(result, null, o.json ? undefined : 2)}\n`);
}

interface EndToEndResult {
  database: string;
  processes: number;
  partitions: number;
  sustained: IngestResult;
  paced: IngestResult;
  /** CPU the engine's processes used per 1,000 events of the sustained run, until it was stored, each and in total (null off Linux). */
  cpuMsPer1000Events: Record<string, number> | null;
  /**
   * CPU the servers on this machine used per 1,000 events of the sustained run (a diagnostic: a server
   * shared with other work counts that work too; null when the server is elsewhere or cannot be read).
   * PostgreSQL's figure leaves out the bench's own queries (counting the stored rows until all are
   * there), given apart as `postgresBenchQueries`.
   */
  serverCpuMsPer1000Events: { natsServer: number | null; postgres: number | null; postgresBenchQueries: number | null };
  /** Each engine process's peak resident memory (MiB) once the sustained run is stored (null off Linux). */
  peakRssMiB: Record<string, number> | null;
}

/** A fresh engine (child process): the sustained run at full speed, then the fixed-rate latency run. */
async function endToEndRun(o: BenchOptions, say: (s: string) => void): Promise<EndToEndResult> {
  const engine = await spawnEngine({
    databaseUrl: o.databaseUrl,
    natsUrl: o.natsUrl,
    split: o.split,
    partitions: o.partitions,
    recorders: o.recorders,
    nodeArgs: o.profile ? ['--cpu-prof', `--cpu-prof-dir=${resolve(o.profile)}`] : [],
  });
  try {
    const progress = process.stderr.isTTY ? (n: number) => process.stderr.write(`\r    accepted ${n}`) : undefined;
    const common = { batch: o.batch, concurrency: o.concurrency, progress };
    say(`    sustained: as fast as accepted for ${o.seconds} s, then until all is stored`);
    const servers = localServers(o.natsUrl, o.databaseUrl);
    const serversBefore = serverCpuSeconds(servers);
    const cpuBefore = cpuSeconds(engine);
    const after = { cpu: null as ReturnType<typeof cpuSeconds>, servers: serversBefore };
    const sustained = await ingestScenario(engine, {
      ...common,
      events: o.events,
      seconds: o.seconds,
      label: 'max',
      postgresPid: servers.postgres,
      // Read when the run is stored, before the scenario reads its latencies back (on the embedded
      // shape that read runs on the engine's database thread: the load generator's work, not the engine's).
      drained: () => {
        after.cpu = cpuSeconds(engine);
        after.servers = serverCpuSeconds(servers);
      },
    });
    const rss = peakRssMiB(engine);
    say(`\n    fixed rate: ${o.latencyRate}/s for ${o.latencySeconds} s`);
    const paced = await ingestScenario(engine, {
      ...common,
      // Small batches at a fixed rate: latency is measured per event, not per large request. A second's
      // worth of requests (100) may be in flight, so the rate is still offered while answers are slow
      // (with 16, the load generator fell behind whenever the gateway's acks took over 160 ms).
      batch: Math.max(1, Math.round(o.latencyRate / 100)),
      concurrency: 100,
      events: o.latencyRate * o.latencySeconds,
      rate: o.latencyRate,
      label: 'paced',
    });
    say('');
    return {
      database: o.databaseUrl ? 'external' : 'embedded',
      processes: engine.children.length,
      partitions: o.partitions,
      sustained,
      paced,
      cpuMsPer1000Events: cpuPerThousand(cpuBefore, after.cpu, sustained.events),
      serverCpuMsPer1000Events: {
        natsServer: msPerThousand(serversBefore.natsServer, after.servers.natsServer, sustained.events),
        postgres: msPerThousand(
          serversBefore.postgres,
          after.servers.postgres === null ? null : after.servers.postgres - (sustained.benchQueryCpuSeconds ?? 0),
          sustained.events,
        ),
        postgresBenchQueries: msPerThousand(0, sustained.benchQueryCpuSeconds, sustained.events),
      },
      peakRssMiB: rss,
    };
  } finally {
    await engine.stop();
  }
}

function serverFigures(cpu: EndToEndResult['serverCpuMsPer1000Events'], suffix: string): Figure[] {
  const row = (name: string, value: number | null): Figure[] =>
    value == null
      ? []
      : [{ figure: `${name} CPU per 1,000 events, sustained (local server)${suffix}`, value, unit: 'CPU ms', target: '', met: null }];
  return [
    ...row('NATS server', cpu.natsServer),
    ...row('PostgreSQL (every process)', cpu.postgres),
    ...row("PostgreSQL, the bench's own queries (not in the line above)", cpu.postgresBenchQueries),
  ];
}

function msPerThousand(before: number | null, after: number | null, events: number): number | null {
  if (before == null || after == null || events === 0) return null;
  return Math.round((((after - before) * 1000 * 1000) / events) * 10) / 10;
}

/** CPU milliseconds per 1,000 events between two readings, per process and `total`. */
function cpuPerThousand(before: Record<string, number> | null, after: Record<string, number> | null, events: number) {
  if (!before || !after || events === 0) return null;
  const out: Record<string, number> = {};
  let total = 0;
  for (const name of Object.keys(after)) {
    const ms = ((after[name] - (before[name] ?? 0)) * 1000 * 1000) / events;
    out[name] = Math.round(ms * 10) / 10;
    total += ms;
  }
  out.total = Math.round(total * 10) / 10;
  return out;
}

const shapeName = (run: ShapeRun) => (run.shape === 'split' ? 'split, PostgreSQL' : (run.shape ?? ''));

/** Both parts of a two-part target; null when neither could be measured, unmet when either is. */
const both = (a: boolean | null, b: boolean | null) => (a === false || b === false ? false : (a ?? b));

/** DESIGN §10's end-to-end and latency figures of one shape. */
function endToEndFigures(endToEnd: EndToEndResult, publishRate: number | null, o: BenchOptions, suffix: string): Figure[] {
  const e2e = endToEnd.sustained.endToEndEventsPerSecond;
  const ingest = endToEnd.sustained.ingestEventsPerSecond;
  const jsBaseline = publishRate != null ? { baseline: 'JetStream acked publishes/s', baselineValue: publishRate } : {};
  return [
    {
      figure: `end to end, sustained ${o.seconds} s${suffix}`,
      value: e2e,
      unit: 'events/s',
      target: '≥ 10,000 and ≥ 0.25 × JetStream',
      met: both(atLeast(e2e, 10_000), publishRate == null ? null : e2e / publishRate >= 0.25),
      ...jsBaseline,
      ratio: ratio(e2e, publishRate),
    },
    {
      figure: `gateway ingest (accepted)${suffix}`,
      value: ingest,
      unit: 'events/s',
      target: '',
      met: null,
      ...jsBaseline,
      ratio: ratio(ingest, publishRate),
    },
    {
      figure: `engine CPU per 1,000 events, sustained (not counting NATS or an external database)${suffix}`,
      value: endToEnd.cpuMsPer1000Events?.total ?? null,
      unit: 'CPU ms',
      target: '',
      met: null,
    },
    // Diagnostics, when the servers are on this machine (the two cores carry them too; a shared server counts other work too).
    ...serverFigures(endToEnd.serverCpuMsPer1000Events, suffix),
    {
      figure: `decision latency p50 at ${o.latencyRate}/s${suffix}`,
      value: endToEnd.paced.decisionLatencyMs.p50,
      unit: 'ms',
      target: '',
      met: null,
    },
    {
      figure: `decision latency p99 at ${o.latencyRate}/s${suffix}`,
      value: endToEnd.paced.decisionLatencyMs.p99,
      unit: 'ms',
      target: '≤ 50',
      met: atMost(endToEnd.paced.decisionLatencyMs.p99, 50),
    },
    {
      figure: `decision latency max at ${o.latencyRate}/s${suffix}`,
      value: endToEnd.paced.decisionLatencyMs.max,
      unit: 'ms',
      target: '',
      met: null,
    },
    {
      figure: `decision latency p99 at max rate${suffix}`,
      value: endToEnd.sustained.decisionLatencyMs.p99,
      unit: 'ms',
      target: '',
      met: null,
    },
  ];
}

/**
 * The recorder's figures: DESIGN §10 asks 50,000 rows/s of PostgreSQL, and issue 19 0.8 × the same
 * database's raw batch insert of both databases (the embedded one is measured against its own raw rate).
 */
function recorderFigures(recorder: RecorderBenchResult): Figure[] {
  const toRaw = ratio(recorder.rowsPerSecond, recorder.rawUnnestRowsPerSecond);
  const external = recorder.database === 'external';
  return [
    {
      figure: `recorder writes (${recorder.database} db)`,
      value: recorder.rowsPerSecond,
      unit: 'rows/s',
      target: external ? '≥ 50,000 and ≥ 0.8 × raw' : '≥ 0.8 × raw',
      met: both(external ? atLeast(recorder.rowsPerSecond, 50_000) : null, toRaw == null ? null : toRaw >= 0.8),
      baseline: 'raw unnest insert',
      baselineValue: recorder.rawUnnestRowsPerSecond,
      ratio: toRaw,
    },
    {
      figure: `recorder writes, ids chosen by senders (${recorder.database} db)`,
      value: recorder.senderIdRowsPerSecond,
      unit: 'rows/s',
      target: '',
      met: null,
      baseline: 'raw unnest insert',
      baselineValue: recorder.rawUnnestRowsPerSecond,
      ratio: ratio(recorder.senderIdRowsPerSecond, recorder.rawUnnestRowsPerSecond),
    },
  ];
}
