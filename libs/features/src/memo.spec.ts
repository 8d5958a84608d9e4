import { memoize } from './memo';

describe('memoize', () => {
  const counted = (max: number, maxChars?: number) => {
    const calls: string[] = [];
    const sut = memoize(
      (key: string) => {
        calls.push(key);
        return key.length;
      },
      max,
      maxChars,
    );
    return { sut, calls };
  };

  it('computes each key once while it is cached, and starts over when full', () => {
    const { sut, calls } = counted(3);
    for (const key of ['a', 'b', 'a', 'c', 'b']) sut(key);
    expect(calls).toEqual(['a', 'b', 'c']);
    sut('d'); // the fourth key clears the cache
    sut('a');
    expect(calls).toEqual(['a', 'b', 'c', 'd', 'a']);
  });

  it('is full at its characters of keys too: long keys a sender chooses cannot make it larger', () => {
    const { sut, calls } = counted(1_000, 100);
    const long = (i: number) => `${i}`.padEnd(40, 'x');
    sut(long(0));
    sut(long(1));
    sut(long(0));
    expect(calls).toHaveLength(2);
    sut(long(2)); // 120 characters: cleared first
    sut(long(0));
    expect(calls).toEqual([long(0), long(1), long(2), long(0)]);
  });
});
