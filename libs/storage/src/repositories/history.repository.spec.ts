import { EventEmitter } from 'node:events';
import type { Pool } from 'pg';
import { EventHistoryRepository } from './history.repository';

/**
 * A client whose ROLLBACK fails (a query timeout: the statement may still run on the server) is in an
 * unknown state: it must leave the pool (release with an error), not serve the pool's next user inside
 * the cursor's transaction. The failure is made here because a real ROLLBACK cannot be made to time out.
 */
function fakePool(rollback: () => Promise<unknown>) {
  const released: (Error | undefined)[] = [];
  const client = Object.assign(new EventEmitter(), {
    query: jest.fn(async (sql: string) => {
      if (sql.startsWith('FETCH')) return { rows: [{ kind: 'click', id: 'c0.1', ts: 0, received_at: 0, partition: 0 }] };
      if (sql === 'ROLLBACK') return rollback();
      return { rows: [] };
    }),
    release: (err?: Error) => void released.push(err),
  });
  const pool = { connect: async () => client } as unknown as Pool;
  return { pool, released };
}

describe('EventHistoryRepository.stream, stopped early', () => {
  const range = { from: new Date(0), to: new Date(1) };

  it('gives its client back to the pool when the cursor closes', async () => {
    const { pool, released } = fakePool(async () => ({ rows: [] }));
    for await (const page of new EventHistoryRepository(pool).stream(range)) {
      expect(page).toHaveLength(1);
      break;
    }
    expect(released).toEqual([undefined]);
  });

  it('discards its client (released with the error) when the ROLLBACK fails', async () => {
    const { pool, released } = fakePool(async () => {
      throw new Error('Query read timeout');
    });
    for await (const page of new EventHistoryRepository(pool).stream(range)) {
      expect(page).toHaveLength(1);
      break;
    }
    expect(released).toHaveLength(1);
    expect(released[0]?.message).toBe('Query read timeout');
  });
});
