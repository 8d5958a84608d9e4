import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelArtifact, ModelRuntime } from '@app/model';
import { Simulator, catalogLine } from '@app/simulator';
import { evaluateCommand } from '../../apps/cli/src/commands/evaluate.command';
import { trainCommand } from '../../apps/cli/src/commands/train.command';

/** Runs a CLI command and returns what it printed on stdout. */
async function run(command: { parseAsync(argv: string[], o: { from: 'user' }): Promise<unknown> }, argv: string[]): Promise<string> {
  let out = '';
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  const progress = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await command.parseAsync(argv, { from: 'user' });
  } finally {
    write.mockRestore();
    progress.mockRestore();
  }
  return out;
}

const SMALL = ['--trees', '6', '--bags', '2', '--rows-per-bag', '300', '--max-depth', '6'];

/** Issue 14: operators have click labels only, or conversion labels only; both train, and the card says what each side is. */
describe('arbiter train on the labels you have', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-train-'));
  const files = { clicks: join(dir, 'clicks.ndjson'), conversions: join(dir, 'conversions.ndjson') };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeAll(() => {
    const sim = new Simulator({
      seed: 5,
      events: 12_000,
      hours: 24,
      start: new Date('2026-11-01T00:00:00Z'),
      partitions: 1,
      warmupHours: 4,
    });
    const lines = [JSON.stringify(catalogLine(sim.catalog))];
    const onlyClicks: string[] = [...lines];
    const onlyConversions: string[] = [...lines];
    for (const e of sim.events()) {
      const { label: _label, ...unlabelled } = e as typeof e & { label?: string };
      onlyClicks.push(JSON.stringify(e.kind === 'click' ? e : unlabelled));
      onlyConversions.push(JSON.stringify(e.kind === 'conversion' ? e : unlabelled));
    }
    writeFileSync(files.clicks, `${onlyClicks.join('\n')}\n`);
    writeFileSync(files.conversions, `${onlyConversions.join('\n')}\n`);
  });

  it('trains the click forest from click labels alone; the conversion side has none', async () => {
    const out = join(dir, 'm-clicks');
    await run(trainCommand(), ['--events', files.clicks, '--out', out, '--version', 'm-clicks', '--keep-from', 'none', ...SMALL]);
    const sut = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as ModelArtifact;
    expect(sut.card.forests).toEqual({ click: { source: 'trained' }, conversion: { source: 'none' } });
    expect(sut.click).not.toBeNull();
    expect(sut.conversion).toBeNull();
    // Node statistics for MODEL_RISK's per-event explanation: one fraud share per node of the forest.
    expect(sut.explanation?.click?.nodeFraudShare).toHaveLength(new ModelRuntime(sut).click!.nodes);
    expect(sut.explanation?.conversion).toBeNull();
    expect(sut.card.origin).toBe('operator');
    expect(sut.card.heldOut?.click).toMatchObject({ precision: expect.any(Number), falsePositiveRate: expect.any(Number) });
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toMatch(/none \(no labels\)/);
  });

  it('trains the conversion forest from conversion labels alone and keeps the click forest of the model it was given', async () => {
    const out = join(dir, 'm-conversions');
    await run(trainCommand(), [
      '--events',
      files.conversions,
      '--out',
      out,
      '--version',
      'm-conversions',
      '--keep-from',
      join(dir, 'm-clicks', 'model.json'),
      ...SMALL,
    ]);
    const sut = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as ModelArtifact;
    const kept = JSON.parse(readFileSync(join(dir, 'm-clicks', 'model.json'), 'utf8')) as ModelArtifact;
    expect(sut.card.forests).toEqual({
      click: { source: 'kept', from: 'm-clicks', origin: 'operator' },
      conversion: { source: 'trained' },
    });
    expect(sut.click).toEqual(kept.click);
    expect(sut.explanation?.click).toEqual(kept.explanation?.click);
    expect(sut.explanation?.conversion?.typicalLegit).toHaveLength(sut.features.conversion.length);
    expect(sut.thresholds.click).toBe(kept.thresholds.click);
    expect(sut.card.heldOut?.click).toEqual(kept.card.heldOut?.click);
    expect(sut.conversion).not.toBeNull();

    // And evaluate scores with it, false-positive rates first.
    const printed = JSON.parse(await run(evaluateCommand(), ['--events', files.conversions, '--model', join(out, 'model.json'), '--json']));
    expect(Object.keys(printed)[0]).toBe('falsePositiveRates');
    expect(printed.model.version).toBe('m-conversions');
    expect(printed.conversions.labelled).toBeGreaterThan(0);
    expect(printed.clicks.labelled).toBe(0);
  });

  it("measures the new model on another profile's legitimate traffic and writes it into the card (--evaluate-on)", async () => {
    const out = join(dir, 'm-cross');
    await run(trainCommand(), [
      '--events',
      files.clicks,
      '--out',
      out,
      '--version',
      'm-cross',
      '--keep-from',
      'none',
      '--evaluate-on',
      `conversions-only=${files.conversions}`,
      ...SMALL,
    ]);
    const sut = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as ModelArtifact;
    expect(sut.card.crossProfile).toEqual([
      expect.objectContaining({ profile: 'conversions-only', legitClicks: 0, legitConversions: expect.any(Number) }),
    ]);
    expect(sut.card.crossProfile![0].legitConversions).toBeGreaterThan(0);
    await expect(
      run(trainCommand(), [
        '--events',
        files.clicks,
        '--out',
        join(dir, 'm-bad'),
        '--keep-from',
        'none',
        '--evaluate-on',
        'no-profile',
        ...SMALL,
      ]),
    ).rejects.toThrow(/give profile=file/);
  });

  it('refuses a file without any side that has both kinds of label', async () => {
    const unlabelled = join(dir, 'none.ndjson');
    writeFileSync(
      unlabelled,
      readFileSync(files.clicks, 'utf8')
        .split('\n')
        .map((l) => l.replace(/,"label":"(fraud|legit)"/, ''))
        .join('\n'),
    );
    await expect(run(trainCommand(), ['--events', unlabelled, '--out', join(dir, 'm-none'), ...SMALL])).rejects.toThrow(/no side has both/);
  });
});
