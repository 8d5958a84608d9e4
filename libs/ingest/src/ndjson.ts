import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface NdjsonLine {
  line: number;
  value?: unknown;
  error?: string;
}

/** Reads an NDJSON file line by line (streaming: files larger than memory are fine). */
export async function* readNdjson(path: string): AsyncGenerator<NdjsonLine> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const text of lines) {
    n++;
    if (!text.trim()) continue;
    try {
      yield { line: n, value: JSON.parse(text) };
    } catch (e) {
      yield { line: n, error: `line ${n}: not JSON (${(e as Error).message})` };
    }
  }
}
