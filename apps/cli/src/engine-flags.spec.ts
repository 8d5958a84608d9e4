import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENGINE_NODE_FLAGS } from './engine-flags';

const root = join(__dirname, '..', '..', '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');

describe('the Node flags the engine starts with', () => {
  it('are the same however the engine is started', () => {
    const flags = ENGINE_NODE_FLAGS.join(' ');
    expect(flags).not.toBe('');
    // npm start
    expect(JSON.parse(read('package.json')).scripts.start).toBe(`node ${flags} dist/apps/cli/src/main.js start`);
    // arbiter start (the installed bin runs main.js by its shebang)
    expect(read('apps/cli/src/main.ts').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags}`);
    // One container per service
    expect(read('docker-compose.yml')).toContain(`NODE_OPTIONS: ${flags}\n`);
    // One process per service by hand
    expect(read('docs/scaling.md')).toContain(`node ${flags} dist/apps/<service>/src/main.js`);
  });
});
