import { Figure, atLeast, atMost, medianOfRuns, ratio, renderTable } from './report';

describe('bench report', () => {
  it('takes the median of every numeric figure over the runs and keeps the rest from the first', () => {
    const runs = [
      { rate: 10, latency: { p99: 30, max: 90 }, database: 'embedded', rounds: [1, 2] },
      { rate: 30, latency: { p99: 10, max: 70 }, database: 'embedded', rounds: [3, 4] },
      { rate: 20, latency: { p99: 50, max: 80 }, database: 'embedded', rounds: [5, 6] },
    ];
    expect(medianOfRuns(runs)).toEqual({ rate: 20, latency: { p99: 30, max: 80 }, database: 'embedded', rounds: [1, 2] });
    expect(medianOfRuns([runs[1]])).toBe(runs[1]);
  });

  it('compares with targets and baselines, and says nothing when a figure is missing', () => {
    expect(atLeast(10_000, 10_000)).toBe(true);
    expect(atLeast(9_999, 10_000)).toBe(false);
    expect(atMost(51, 50)).toBe(false);
    expect(atLeast(undefined, 1)).toBeNull();
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, 0)).toBeNull();
  });

  it('renders a table with one row per figure, the verdict and the ratio', () => {
    const figures: Figure[] = [
      {
        figure: 'recorder writes',
        value: 16406,
        unit: 'rows/s',
        target: '≥ 50,000',
        met: false,
        baseline: 'raw unnest insert',
        baselineValue: 31282,
        ratio: 0.52,
      },
      { figure: 'model predictions', value: 1_180_000, unit: '/s', target: '≥ 1,000,000', met: true },
    ];
    const lines = renderTable(figures).split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(/recorder writes\s+16,406 rows\/s\s+≥ 50,000\s+NOT MET\s+31,282 \(raw unnest insert\)\s+0\.52×/);
    expect(lines[3]).toMatch(/model predictions\s+1,180,000 \/s\s+≥ 1,000,000\s+met/);
  });
});
