import { confusion, prAuc, rocAuc } from './metrics';

describe('evaluation metrics', () => {
  it('counts a confusion matrix', () => {
    const sut = confusion([
      { flagged: true, fraud: true },
      { flagged: true, fraud: false },
      { flagged: false, fraud: true },
      { flagged: false, fraud: false },
      { flagged: false, fraud: false },
    ]);
    expect(sut).toEqual({ tp: 1, fp: 1, fn: 1, tn: 2, precision: 0.5, recall: 0.5, falsePositiveRate: 0.3333 });
  });

  it('ROC-AUC: 1 for a perfect ranking, 0.5 for ties, 0 for a reversed one', () => {
    const perfect = [0.1, 0.2, 0.8, 0.9].map((score, i) => ({ score, fraud: i >= 2 }));
    expect(rocAuc(perfect)).toBe(1);
    expect(rocAuc(perfect.map((p) => ({ ...p, score: 0.5 })))).toBe(0.5);
    expect(rocAuc(perfect.map((p) => ({ ...p, fraud: !p.fraud })))).toBe(0);
    expect(rocAuc([{ score: 1, fraud: true }])).toBeNull();
  });

  it('ROC-AUC matches the pairwise definition', () => {
    const data = [
      { score: 0.9, fraud: true },
      { score: 0.7, fraud: false },
      { score: 0.6, fraud: true },
      { score: 0.3, fraud: false },
      { score: 0.3, fraud: true },
    ];
    // pairs (fraud, legit): (0.9,0.7)=1 (0.9,0.3)=1 (0.6,0.7)=0 (0.6,0.3)=1 (0.3,0.7)=0 (0.3,0.3)=0.5 → 3.5/6
    expect(rocAuc(data)).toBeCloseTo(3.5 / 6, 4);
  });

  it('PR-AUC: 1 for a perfect ranking, the positive share for a constant score', () => {
    expect(prAuc([0.1, 0.2, 0.8, 0.9].map((score, i) => ({ score, fraud: i >= 2 })))).toBe(1);
    expect(prAuc([0, 0, 0, 0].map((score, i) => ({ score, fraud: i === 0 })))).toBe(0.25);
  });
});
