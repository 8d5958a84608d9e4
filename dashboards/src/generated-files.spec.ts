import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateDashboardFiles } from '.';

const DIR = join(__dirname, '..');

describe('generated Grafana files', () => {
  const files = generateDashboardFiles();

  it.each(files.map((f) => [f.path, f.content]))(
    '%s is up to date with dashboards/src (regenerate with `npx arbiter dashboards`)',
    (path, content) => {
      expect(readFileSync(join(DIR, path), 'utf8')).toBe(content);
    },
  );

  it('leaves no dashboard in dashboards/json that the code no longer generates', () => {
    const generated = files.filter((f) => f.path.startsWith('json/')).map((f) => f.path.slice('json/'.length));
    expect(readdirSync(join(DIR, 'json')).sort()).toEqual(generated.sort());
  });
});
