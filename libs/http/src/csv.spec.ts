import { Readable } from 'node:stream';
import { allPages, csvFile, csvText, fieldColumns, fieldsOf, prefersCsv } from './csv';

async function text(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

describe('prefersCsv', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['application/json', false],
    ['*/*', false],
    ['text/csv', true],
    ['text/csv; charset=utf-8', true],
    ['TEXT/CSV', true],
    ['text/csv, */*', true],
    ['application/json, text/csv', false],
    ['text/csv, application/json', true],
    ['application/json;q=0.5, text/csv', true],
    ['text/csv;q=0.5, application/json', false],
    ['text/csv;q=0', false],
    ['text/html, text/csv;q=0.9, */*;q=0.8', true],
  ])('%j → %s', (accept, expected) => {
    expect(prefersCsv(accept)).toBe(expected);
  });
});

describe('csvFile', () => {
  type Row = { id: string; subId: string | null; count: number; ok: boolean; extra?: { a: number } };
  const columns = fieldColumns<Row>(['id', 'subId', 'count', 'ok', 'extra']);

  it('writes a header and one quoted line per row, neutralising spreadsheet formulas', async () => {
    const rows: Row[] = [
      { id: 'a', subId: '=HYPERLINK("http://evil","x")', count: -3, ok: true, extra: { a: 1 } },
      { id: 'b,c', subId: '+1', count: 0, ok: false },
      { id: 'd"e', subId: '@SUM(A1)', count: 2, ok: true },
      { id: 'f\ng', subId: '-2', count: 1, ok: true },
      { id: 'h', subId: null, count: 1, ok: true },
    ];
    const sut = await text(csvFile(rows, columns, 'x.csv').getStream() as Readable);
    expect(sut).toBe(
      [
        'id,subId,count,ok,extra',
        `a,"'=HYPERLINK(""http://evil"",""x"")",-3,true,"{""a"":1}"`,
        `"b,c",'+1,0,false,`,
        `"d""e",'@SUM(A1),2,true,`,
        `"f\ng",'-2,1,true,`,
        'h,,1,true,',
        '',
      ].join('\n'),
    );
    expect(csvText(rows, columns)).toBe(sut);
  });

  it('says it is a CSV attachment', () => {
    const sut = csvFile([], columns, 'rejections.csv');
    expect(sut.getHeaders()).toMatchObject({ type: 'text/csv; charset=utf-8', disposition: 'attachment; filename="rejections.csv"' });
  });
});

describe('allPages', () => {
  it('fetches the next page only when the previous one has been read, starting after the cursor', async () => {
    const asked: (number | undefined)[] = [];
    const sut = allPages<number, number>(async (after) => {
      asked.push(after);
      const start = (after ?? 0) + 1;
      const items = [start, start + 1, start + 2].filter((n) => n <= 8);
      return { items, next: items.length === 3 ? items[2] : null };
    }, 2);
    const it = sut[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe(3);
    expect(asked).toEqual([2]);
    const rest: number[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
    expect(rest).toEqual([4, 5, 6, 7, 8]);
    expect(asked).toEqual([2, 5, 8]);
  });
});

describe('fieldsOf', () => {
  it('lists the fields of rows in first-seen order, flattening the named objects', () => {
    expect(
      fieldsOf(
        [
          { bucket: 't', group: { offer_id: 'o' }, reasons: { A: 1 } },
          { bucket: 't', group: { sub_id: 's' }, x: 1 },
        ],
        ['group'],
      ),
    ).toEqual(['bucket', 'group.offer_id', 'reasons', 'group.sub_id', 'x']);
  });
});
