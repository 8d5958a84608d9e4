import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_REASON_CODES, REASON_CODES } from '@app/contracts';
import { reasonCodesMarkdown } from './reason-codes-doc';

describe('docs/reason-codes.md', () => {
  it('is up to date with the code (regenerate with `npx arbiter docs`)', () => {
    const committed = readFileSync(join(__dirname, '../../../docs/reason-codes.md'), 'utf8');
    expect(committed).toBe(reasonCodesMarkdown());
  });

  it('documents every code with a message built from its example evidence', () => {
    for (const code of ALL_REASON_CODES) {
      const message = REASON_CODES[code].explain(REASON_CODES[code].example);
      expect(message).not.toMatch(/undefined|\[object/);
      expect(reasonCodesMarkdown()).toContain(`\`${code}\``);
    }
  });
});
