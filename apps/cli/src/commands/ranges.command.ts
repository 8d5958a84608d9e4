import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { parsePublishedRanges } from '@app/features';
import { validateLayer } from '@app/rules';

/**
 * `arbiter ranges`: turns providers' published range files into the `lists.datacenterRanges` of a
 * rule-set layer, so DATACENTER_IP knows current ranges and names the provider (docs/rule-sets.md).
 */
export function rangesCommand(): Command {
  return new Command('ranges')
    .description(
      "convert providers' published IP range files (AWS ip-ranges.json, Google Cloud cloud.json, Azure service tags, Oracle " +
        'public_ip_ranges.json, geofeed CSV, one range per line) into rule-set lists for DATACENTER_IP; prints {"datacenterRanges": […]}',
    )
    .argument('<provider=source...>', 'a provider name and a file path or http(s) URL, e.g. "Amazon Web Services=ip-ranges.json"')
    .action(async (specs: string[]) => {
      const byProvider = new Map<string, Set<string>>();
      for (const spec of specs) {
        const at = spec.lastIndexOf('=');
        if (at <= 0 || at === spec.length - 1) throw new Error(`"${spec}": expected PROVIDER=FILE or PROVIDER=URL`);
        const provider = spec.slice(0, at).trim();
        const source = spec.slice(at + 1);
        const cidrs = parsePublishedRanges(await read(source));
        if (cidrs.length === 0) throw new Error(`${source}: no IP ranges found`);
        const set = byProvider.get(provider) ?? new Set<string>();
        cidrs.forEach((c) => set.add(c));
        byProvider.set(provider, set);
        process.stderr.write(`${provider}: ${cidrs.length} ranges from ${source}\n`);
      }
      const lists = { datacenterRanges: [...byProvider].map(([provider, cidrs]) => ({ provider, cidrs: [...cidrs] })) };
      validateLayer({ lists }); // the same check the API makes before storing a layer
      process.stdout.write(`${JSON.stringify(lists)}\n`);
    });
}

async function read(source: string): Promise<string> {
  if (!/^https?:\/\//.test(source)) return readFileSync(source, 'utf8');
  const res = await fetch(source);
  if (!res.ok) throw new Error(`${source}: HTTP ${res.status}`);
  return res.text();
}
