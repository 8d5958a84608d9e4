import { ChurnVacuum } from './churn-vacuum';
import type { Queryable } from './database';

describe('ChurnVacuum', () => {
  it('vacuums once every so many deletes, and after a failed vacuum only again a tenth of that later, not at every delete', async () => {
    const sent: string[] = [];
    let fail = true;
    const pool = {
      query: async (sql: string) => {
        sent.push(sql);
        if (fail) throw new Error('cannot execute VACUUM during recovery');
      },
    } as unknown as Queryable;
    const vacuum = new ChurnVacuum(pool, 'claims', 100);
    for (let n = 1; n < 100; n++) await vacuum.deleted(1);
    expect(sent).toEqual([]);
    await expect(vacuum.deleted(1)).rejects.toThrow('recovery');
    expect(sent).toHaveLength(1);
    for (let n = 1; n < 10; n++) await vacuum.deleted(1); // a persistent error: not retried per delete
    expect(sent).toHaveLength(1);
    fail = false;
    await vacuum.deleted(1); // the tenth after the failure
    expect(sent).toEqual(['VACUUM (SKIP_LOCKED) claims', 'VACUUM (SKIP_LOCKED) claims']);
    for (let n = 1; n < 100; n++) await vacuum.deleted(1);
    expect(sent).toHaveLength(2);
    await vacuum.deleted(1);
    expect(sent).toHaveLength(3);
  });
});
