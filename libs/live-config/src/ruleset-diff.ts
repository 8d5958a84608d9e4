/** One difference between two rule-set configurations, at a dotted path (`offers.shoes.rules.IP_VELOCITY.perMinute`). */
export type RuleSetChange =
  | { path: string; op: 'added'; to: unknown }
  | { path: string; op: 'removed'; from: unknown }
  | { path: string; op: 'changed'; from: unknown; to: unknown }
  /** A list (deny IPs, countries, …): the entries that came and went, not the whole list twice. */
  | { path: string; op: 'list'; added: unknown[]; removed: unknown[] };

// Bookkeeping fields of the document, not rules.
const IGNORED = new Set(['version', 'updatedAt', 'updatedBy']);

/** The structured difference between two configurations (or layers), in a stable order. */
export function diffRuleSets(before: unknown, after: unknown): RuleSetChange[] {
  const out: RuleSetChange[] = [];
  walk(before, after, '', out, true);
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function walk(a: unknown, b: unknown, path: string, out: RuleSetChange[], top = false): void {
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      if (top && IGNORED.has(k)) continue;
      const p = path ? `${path}.${k}` : k;
      if (!(k in a) || a[k] === undefined) {
        if (b[k] !== undefined) out.push({ path: p, op: 'added', to: b[k] });
      } else if (!(k in b) || b[k] === undefined) out.push({ path: p, op: 'removed', from: a[k] });
      else walk(a[k], b[k], p, out);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const key = (v: unknown) => JSON.stringify(v);
    const before = new Set(a.map(key));
    const after = new Set(b.map(key));
    const added = b.filter((v) => !before.has(key(v)));
    const removed = a.filter((v) => !after.has(key(v)));
    if (added.length || removed.length) out.push({ path, op: 'list', added, removed });
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path, op: 'changed', from: a, to: b });
}
