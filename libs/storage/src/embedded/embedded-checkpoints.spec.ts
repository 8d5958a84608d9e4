import type { PGlite } from '@electric-sql/pglite';
import { EmbeddedCheckpoints } from './embedded-checkpoints';
import type { PGliteServer } from './pglite-server';

/** A database whose look says "nothing due", and a server that hands it over only once `open` is called. */
function fixture(query: jest.Mock = jest.fn(async () => ({ rows: [{ lsn: '0/1', since: 0 }] }))) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const exclusive = jest.fn(async (work: () => Promise<unknown>) => {
    await gate;
    return work();
  });
  const sut = new EmbeddedCheckpoints({ query, exec: jest.fn() } as unknown as PGlite, { exclusive } as unknown as PGliteServer, {
    walMb: 16,
    seconds: 300,
  });
  return { sut, query, exclusive, open };
}

describe('EmbeddedCheckpoints', () => {
  it('queues one check at most while one waits for the database (a long hold piles up none)', async () => {
    const { sut, query, exclusive, open } = fixture();
    const ticks = Array.from({ length: 5 }, () => sut.tick());
    open();
    await Promise.all(ticks);
    expect(exclusive).toHaveBeenCalledTimes(1);
    expect(query).toHaveBeenCalledTimes(1);
    await sut.stop();
  });

  it('does nothing with the database it gets after stop was called', async () => {
    const { sut, query, open } = fixture();
    void sut.tick();
    const stopped = sut.stop();
    open();
    await stopped;
    expect(query).not.toHaveBeenCalled();
    expect(sut.tick()).toBeUndefined();
  });

  it('warns of the first failure, then at most once a minute while they go on, and says when it recovers', async () => {
    let fail = true;
    const { sut, open } = fixture(
      jest.fn(async () => {
        if (fail) throw new Error('the database is gone');
        return { rows: [{ lsn: '0/1', since: 0 }] };
      }),
    );
    open();
    const log = (sut as unknown as { log: { warn: () => void; info: () => void } }).log;
    const warn = jest.spyOn(log, 'warn').mockImplementation(() => undefined);
    const info = jest.spyOn(log, 'info').mockImplementation(() => undefined);
    let now = 1_000_000;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
    try {
      for (let i = 0; i < 30; i++, now += 1_000) await sut.tick();
      expect(warn).toHaveBeenCalledTimes(1);
      for (let i = 0; i < 31; i++, now += 1_000) await sut.tick();
      expect(warn).toHaveBeenCalledTimes(2);
      fail = false;
      await sut.tick();
      expect(info).toHaveBeenCalledTimes(1);
      await sut.tick();
      expect(info).toHaveBeenCalledTimes(1);
    } finally {
      clock.mockRestore();
      await sut.stop();
    }
  });
});
