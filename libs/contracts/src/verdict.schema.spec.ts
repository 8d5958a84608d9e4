import { Type } from '@sinclair/typebox';
import fc from 'fast-check';
import { compiled } from './validation';
import { Reason } from './verdict.schema';

/**
 * A reason's evidence is checked with one `type` list instead of an `anyOf` per JSON type (ajv
 * built an error object for every branch that failed): it must take exactly what the `anyOf` took.
 */
describe('Reason evidence', () => {
  const Scalar = [Type.String(), Type.Number(), Type.Boolean(), Type.Null()];
  const asBefore = compiled(
    Type.Record(Type.String(), Type.Union([...Scalar, Type.Array(Type.Record(Type.String(), Type.Union(Scalar)))])),
  );
  const sut = compiled(Reason.properties.evidence);
  const reason = (evidence: unknown) => ({
    code: 'MODEL_RISK',
    category: 'SIVT',
    severity: 'high',
    message: 'm',
    evidence,
    monitorOnly: false,
  });

  it.each<[string, unknown, boolean]>([
    ['scalars', { a: 'x', b: 1.5, c: true, d: null }, true],
    ['a table of rows', { contributions: [{ feature: 'ip_datacenter', value: 1, contribution: 0.18 }], bias: 0.3 }, true],
    ['an empty table', { rows: [] }, true],
    ['a nested object', { a: { b: 1 } }, false],
    ['a table of scalars', { rows: [1, 2] }, false],
    ['a row holding an object', { rows: [{ a: { b: 1 } }] }, false],
    ['a row holding an array', { rows: [{ a: [1] }] }, false],
    ['a table of tables', { rows: [[{ a: 1 }]] }, false],
    ['not an object', 'evidence', false],
    ['an array', [], false],
  ])('%s: %s', (_name, evidence, ok) => {
    expect(sut.check(evidence).ok).toBe(ok);
    expect(asBefore.check(evidence).ok).toBe(ok);
    expect(compiled(Reason).check(reason(evidence)).ok).toBe(ok);
  });

  it('takes exactly the values the anyOf of JSON types took', () => {
    const scalar = fc.oneof(fc.string(), fc.double({ noNaN: true }), fc.integer(), fc.boolean(), fc.constant(null));
    const value = fc.oneof(
      scalar,
      fc.array(fc.dictionary(fc.string(), fc.oneof(scalar, scalar, fc.jsonValue({ maxDepth: 1 })), { maxKeys: 4 }), { maxLength: 3 }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    fc.assert(
      fc.property(fc.oneof(fc.dictionary(fc.string(), value, { maxKeys: 5 }), fc.jsonValue({ maxDepth: 3 })), (evidence) => {
        expect(sut.check(evidence).ok).toBe(asBefore.check(evidence).ok);
      }),
      { numRuns: 5_000 },
    );
  });
});
