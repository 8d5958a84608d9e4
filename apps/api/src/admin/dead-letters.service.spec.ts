import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { loadConfig } from '@app/config';
import { Topology } from '@app/contracts';
import type { DeadLetterReplayRecord, DeadLetterReplayRepository, ReplayResult, WebhookRepository } from '@app/storage';
import { DeadLettersService } from './dead-letters.service';

/** An audit kept in memory, as the repository keeps it in `dead_letter_replays`. */
function memoryAudit() {
  const rows = new Map<string, DeadLetterReplayRecord>();
  let n = 0;
  const audit = {
    rows,
    async begin(actor: string, filter: Record<string, unknown>) {
      const row: DeadLetterReplayRecord = {
        id: `r${++n}`,
        at: new Date().toISOString(),
        finishedAt: null,
        actor,
        filter,
        replayed: 0,
        byConsumer: {},
        deadLetters: [],
        missing: [],
        skipped: [],
      };
      rows.set(row.id, row);
      return row;
    },
    async finish(started: DeadLetterReplayRecord, r: ReplayResult) {
      const row = { ...started, ...r, finishedAt: new Date().toISOString() };
      rows.set(row.id, row);
      return row;
    },
  };
  return audit;
}

describe('DeadLettersService.replay: every replay is audited', () => {
  const config = loadConfig({});
  const sut = (audit: ReturnType<typeof memoryAudit>, replay: () => Promise<unknown>) => {
    const service = new DeadLettersService(
      { options: {} } as unknown as NatsConnection, // never used: the replay is stubbed below
      {} as JetStreamManager,
      config,
      new Topology('arbiter', 1),
      audit as unknown as DeadLetterReplayRepository,
      {} as WebhookRepository,
    );
    (service as unknown as { letters: { replay: () => Promise<unknown> } }).letters = { replay };
    return service;
  };

  it('records the replay before it starts and completes the row after', async () => {
    const audit = memoryAudit();
    const service = sut(audit, async () => ({
      replayed: 1,
      byConsumer: { 'recorder-verdicts': 1 },
      items: [{ id: 'DLQ:42' }],
      missing: [],
      skipped: [],
    }));
    const r = await service.replay({ ids: ['DLQ:42'] }, 'key_01');
    expect(r).toMatchObject({ actor: 'key_01', replayed: 1, deadLetters: ['DLQ:42'], finishedAt: expect.any(String) });
    expect([...audit.rows.values()]).toEqual([expect.objectContaining({ id: r.id, replayed: 1, finishedAt: r.finishedAt })]);
  });

  it('keeps an unfinished audit row for a replay that fails part-way', async () => {
    const audit = memoryAudit();
    const service = sut(audit, async () => {
      throw new Error('TIMEOUT publishing to REPLAY');
    });
    await expect(service.replay({ consumer: 'recorder-verdicts' }, 'key_01')).rejects.toThrow('TIMEOUT');
    expect([...audit.rows.values()]).toEqual([
      expect.objectContaining({ actor: 'key_01', filter: expect.objectContaining({ consumer: 'recorder-verdicts' }), finishedAt: null }),
    ]);
  });
});
