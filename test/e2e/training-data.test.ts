import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScoringEngine } from '@app/decisions';
import { ModelRuntime } from '@app/model';
import { OfflineRunner } from '@app/evaluation';
import { DEFAULT_RULESET } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { eventually } from '@app/testing';
import { databaseEvents } from '../../apps/cli/src/replay/database-events';
import { HttpReplayer } from '../../apps/cli/src/replay/http-replayer';
import { trainCommand } from '../../apps/cli/src/commands/train.command';
import { ADMIN_KEY, TestEngine, bootEngine } from './support/engine';

/**
 * `arbiter replay` sends simulated traffic through the gateway; `arbiter train --from-db` reads the
 * history back with the network's labels (stored labels, advertiser feedback) in time order.
 */
describe('replay into the engine and read the history back for training', () => {
  let t: TestEngine;

  beforeAll(async () => {
    t = await bootEngine();
  });
  afterAll(async () => {
    await t.stop();
  });

  it('stores every replayed event and turns the database into a labelled, time-ordered training source', async () => {
    const sim = new Simulator({
      seed: 5,
      events: 3000,
      hours: 6,
      start: new Date(Date.now() - 7 * 3600_000),
      partitions: 1,
      warmupHours: 0,
    });
    const events = [...sim.events()];
    const replayer = new HttpReplayer({ gateway: t.gateway, api: t.api, adminKey: ADMIN_KEY }, { batch: 200 });
    await replayer.seed(catalogLine(sim.catalog));
    const result = await replayer.send(events);
    expect(result.rejected).toBe(0);
    expect(result.failed).toBe(0);
    const counts = (kind: string) => events.filter((e) => e.kind === kind).length;
    await t.drained();
    const stored = await eventually(
      async () =>
        (
          await t.db.query(
            `SELECT (SELECT count(*) FROM clicks)::int AS clicks, (SELECT count(*) FROM conversions)::int AS conversions, (SELECT count(*) FROM feedback)::int AS feedback`,
          )
        ).rows[0],
      (r) => r.clicks === counts('click') && r.conversions === counts('conversion') && r.feedback === counts('feedback'),
    );
    expect(stored.clicks).toBeGreaterThan(1000);

    const lines: { kind: string; ts?: string; label?: string; id?: string }[] = [];
    for await (const l of databaseEvents(t.engine.config.DATABASE_URL)) lines.push(l.value as (typeof lines)[number]);
    expect(lines[0].kind).toBe('catalog');
    const body = lines.slice(1);
    expect(body).toHaveLength(events.length);
    expect(body.map((l) => l.ts)).toEqual([...body.map((l) => l.ts!)].sort());
    // A conversion the advertiser rejected is labelled fraud, whatever its stored label said.
    const rejected = events.find((e) => e.kind === 'feedback' && e.status === 'rejected');
    if (rejected && rejected.kind === 'feedback') {
      expect(body.find((l) => l.id === rejected.conversionId)?.label).toBe('fraud');
    }
    expect(body.filter((l) => l.kind === 'click' && l.label).length).toBe(counts('click'));

    const runner = new OfflineRunner(new ScoringEngine(DEFAULT_RULESET));
    const summary = await runner.run(databaseEvents(t.engine.config.DATABASE_URL), {});
    expect(summary).toMatchObject({
      clicks: counts('click'),
      conversions: counts('conversion'),
      feedback: counts('feedback'),
      invalid: 0,
      openCatalog: false,
    });

    // `arbiter train --from-db`, as an operator runs it against this deployment's database: every
    // labelled click and conversion becomes a training row, and the engine loads the model it writes.
    const out = mkdtempSync(join(tmpdir(), 'arbiter-train-db-'));
    const url = process.env.DATABASE_URL;
    process.env.DATABASE_URL = t.engine.config.DATABASE_URL;
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await trainCommand().parseAsync(
        ['--from-db', '--out', out, '--trees', '5', '--bags', '2', '--rows-per-bag', '300', '--version', 'm-from-db'],
        {
          from: 'user',
        },
      );
      const artifact = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
      expect(artifact.version).toBe('m-from-db');
      expect(artifact.card.source).toBe('database');
      const labelled = (kind: string) => ({
        fraud: body.filter((l) => l.kind === kind && l.label === 'fraud').length,
        legit: body.filter((l) => l.kind === kind && l.label && l.label !== 'fraud').length,
      });
      expect(artifact.card.rows).toEqual({ clicks: labelled('click'), conversions: labelled('conversion') });
      expect(artifact.card.forests.click.source).toBe('trained');
      expect(ModelRuntime.fromFile(join(out, 'model.json')).version).toBe('m-from-db');
    } finally {
      stderr.mockRestore();
      stdout.mockRestore();
      if (url === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = url;
      rmSync(out, { recursive: true, force: true });
    }
    // About 4 s on a quiet machine; CI runs it beside another worker's engine.
  }, 120_000);
});
