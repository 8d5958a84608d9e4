import { keyedInsert } from './bulk';

describe('keyedInsert: COPY text', () => {
  interface Row {
    id: string;
    n: number;
    ok: boolean;
    tags: string[];
  }
  const insert = keyedInsert<Row>('t', [
    { name: 'id', type: 'text', value: (r) => r.id },
    { name: 'n', type: 'float8', value: (r) => r.n },
    { name: 'ok', type: 'boolean', value: (r) => r.ok },
    { name: 'tags', type: 'text', value: (r) => r.tags },
  ]);

  it('spells numbers and booleans as they are and escapes every other value, so one row stays one line of tab-separated fields', () => {
    const text = insert.copyText([{ id: 'a\tb\\c', n: -1.5e-7, ok: false, tags: ['x\ty', 'z\nw'] }]);
    expect(text).toBe('a\\tb\\\\c\t-1.5e-7\tfalse\tx\\ty,z\\nw\n');
    expect(text.split('\n')).toHaveLength(2);
    expect(text.trimEnd().split('\t')).toHaveLength(4);
  });

  it.each([
    ['a backslash', 'a\\b', 'a\\\\b'],
    ['a newline', 'a\nb', 'a\\nb'],
    ['a carriage return', 'a\rb', 'a\\rb'],
    ['a tab', 'a\tb', 'a\\tb'],
    ['each of them, at the edges', '\\x\r\n\t', '\\\\x\\r\\n\\t'],
    ['nothing to escape', 'plain "json" [1]', 'plain "json" [1]'],
  ])('escapes %s wherever it stands', (_, id, spelled) => {
    expect(insert.copyText([{ id, n: 0, ok: true, tags: [] }])).toBe(`${spelled}\t0\ttrue\t\n`);
  });
});
