import { Cluster, Sender, SimTraffic, seedCatalog, settleAndAccount, simulate, reportExactlyOnce } from './support';

/** A deterministic shuffle (xorshift), so a failure can be replayed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * The same events sent twice (at once, and again after JetStream's de-duplication window has
 * passed, so only the engine's own idempotency stands between them and a double count), out of
 * order (conversions before their clicks), and late (timestamps 30 h old: outside every window and
 * the scorer's replay horizon). Each event is stored once, decided once, published once.
 */
describe('fault: duplicate, out-of-order and late events', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start({ fault: 'duplicates', env: { DUPLICATE_WINDOW_SECONDS: '120' } });
  });
  afterAll(() => cluster?.close());

  it('keeps exactly one row, one decision and one published decision per event', async () => {
    const started = Date.now();
    const { catalog, events: current } = simulate({ seed: 404, events: 1500 });
    const { events: late } = simulate({ seed: 405, events: 300, end: new Date(Date.now() - 30 * 3600_000) });
    await seedCatalog(cluster, catalog);
    const all: SimTraffic[] = [...current, ...late];
    const sender = new Sender(cluster.gateway);

    // Out of order: a shuffle puts many conversions before their clicks.
    await sender.send(shuffled(all, 7), { batch: 100 });
    expect(sender.acceptedCount).toBe(all.length);
    // At once again, in another order: JetStream's de-duplication answers "duplicate".
    const again = new Sender(cluster.gateway);
    let duplicates = 0;
    for (let i = 0; i < all.length; i += 100) {
      const slice = shuffled(all, 11).slice(i, i + 100);
      for (const kind of ['click', 'conversion'] as const) {
        const results = await again.post(
          kind,
          slice.filter((e) => e.kind === kind),
        );
        duplicates += results.filter((r) => r.status === 'accepted' && r.duplicate).length;
      }
    }
    expect(duplicates).toBe(all.length);

    // Let the first copies be recorded, then wait out the de-duplication window and send everything again.
    await settleAndAccount(cluster, 'warm-up', sender, { quietMs: 0 });
    const windowEnds = started + 125_000;
    await new Promise((r) => setTimeout(r, Math.max(0, windowEnds - Date.now())));
    const third = new Sender(cluster.gateway);
    await third.send(shuffled(all, 13), { batch: 100 });
    expect(third.acceptedCount).toBe(all.length);

    const row = await settleAndAccount(cluster, 'duplicates (twice at once, again after 125 s), shuffled, 30 h late', sender, {
      quietMs: 5_000,
    });
    row.sent = all.length;
    reportExactlyOnce(row, { accepted: all.length, startedAt: started });
  });
});
