import { metrics, ownThreadMetrics, processMetrics, threadMetrics } from './metrics';

describe("GET /metrics with the service threads' series merged in", () => {
  afterEach(() => threadMetrics.clear());

  it('sums counters of the same series, and takes the dead-letter depth every thread reports once', async () => {
    metrics.deadLetters.set({ stream: 'DLQ' }, 3);
    metrics.eventsIngested.inc({ kind: 'click', duplicate: 'false' }, 5);
    // Another thread's registry, as its service would report it.
    const other = JSON.parse(JSON.stringify(await ownThreadMetrics()));
    threadMetrics.set('scorer thread', async () => other);
    threadMetrics.set('recorder thread', async () => other);
    const text = await processMetrics();
    expect(text).toMatch(/^arbiter_dead_letters\{stream="DLQ"\} 3$/m);
    expect(text).toMatch(/^arbiter_events_ingested_total\{kind="click",duplicate="false"\} 15$/m);
  });
});
