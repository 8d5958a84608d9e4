/**
 * Jest runs the files it has timings for longest first, and the others by file size. A fresh
 * clone (CI) has no timings: the slowest files below (seconds, one worker, 2026-12-03) then start
 * first too, instead of one of them starting last and leaving the other worker idle at the end.
 * Only the order depends on these figures; a cached timing of this checkout's own wins.
 */
const { relative } = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

const SLOWEST = {
  'test/e2e/csv-exports.test.ts': 74,
  'libs/evaluation/src/reason-coverage.spec.ts': 40,
  'test/integration/rollup-refresh-timescaledb.test.ts': 39,
  'test/integration/kpi-rollups.test.ts': 34,
  'test/integration/train-on-the-labels-you-have.test.ts': 34,
  'test/e2e/embedded-mode.test.ts': 33,
  'test/e2e/training-data.test.ts': 31,
  'test/integration/stream-limits.test.ts': 22,
  'test/e2e/stream-full.test.ts': 22,
  'test/integration/bench.test.ts': 20,
  'test/e2e/event-batches.test.ts': 20,
  'libs/evaluation/src/hash-secret.spec.ts': 19,
  'test/e2e/ingest-trust.test.ts': 18,
  'libs/features/src/iso-time.spec.ts': 18,
  'libs/evaluation/src/outcomes-own-their-evidence.spec.ts': 17,
  'test/integration/scorer-verdicts-full.test.ts': 16,
  'test/e2e/openapi.test.ts': 16,
  'libs/model/src/explanation.spec.ts': 16,
  'test/e2e/dead-letters.test.ts': 15,
  'test/integration/embedded-restart.test.ts': 15,
};

module.exports = class SlowestFirst extends Sequencer {
  time(test) {
    const cached = super.time(test);
    if (cached !== undefined) return cached;
    // Without a timing: a listed file's figure, any other file as if quick (jest would otherwise
    // run every file with a timing after every file without one).
    return (SLOWEST[relative(test.context.config.rootDir, test.path)] ?? 0) * 1000;
  }
};
