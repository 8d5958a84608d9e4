import Heap from 'mnemonist/heap';
import type { Decision } from '@app/contracts';
import { DECISION_CODEC } from './outcome-codec';

/** A held decision as the registry keeps it: its revision, and the decision packed (`DECISION_CODEC`) as JSON text. */
interface Held {
  revision: number;
  packed: string;
}

/**
 * Decisions on hold, by the time they resolve by themselves. A hold settled earlier (feedback,
 * analyst) is dropped lazily: the heap entry is skipped when its decision is no longer current.
 *
 * A decision is kept packed, one string each, and handed out decoded (a fresh copy, what
 * `JSON.parse(JSON.stringify(decision))` gives: what a consumer of the published decision got).
 * As objects, a held decision with its reasons and MODEL_RISK's contributions was about 2.3 KB of
 * V8 heap in some forty objects: the 23,509 holds of the memory bench's million clicks took 52 MiB,
 * packed 16 (issue 19).
 */
export class HoldRegistry {
  private readonly heap = new Heap<{ due: number; conversionId: string; revision: number }>((a, b) => a.due - b.due);
  private readonly current = new Map<string, Held>();

  get size(): number {
    return this.current.size;
  }

  /** Tracks a decision on hold (ignores others and revisions older than what is held). */
  track(decision: Decision): void {
    if (decision.status !== 'hold' || !decision.holdUntil) return;
    const held = this.current.get(decision.conversionId);
    if (held && held.revision > decision.revision) return;
    this.current.set(decision.conversionId, { revision: decision.revision, packed: JSON.stringify(DECISION_CODEC.pack(decision)) });
    this.heap.push({ due: Date.parse(decision.holdUntil), conversionId: decision.conversionId, revision: decision.revision });
  }

  /** A copy of the decision held for the conversion, if any. */
  get(conversionId: string): Decision | undefined {
    const held = this.current.get(conversionId);
    return held && unpack(held);
  }

  /** Forgets every hold (before taking over the authoritative ones from the database). */
  clear(): void {
    this.current.clear();
    this.heap.clear();
  }

  /** Forgets a hold that was settled another way. */
  settle(conversionId: string): void {
    this.current.delete(conversionId);
  }

  /** Removes and returns the holds due at `nowMs`, oldest first. */
  due(nowMs: number): Decision[] {
    const out: Decision[] = [];
    while (this.heap.size > 0 && this.heap.peek()!.due <= nowMs) {
      const entry = this.heap.pop()!;
      const held = this.current.get(entry.conversionId);
      if (!held || held.revision !== entry.revision) continue;
      this.current.delete(entry.conversionId);
      out.push(unpack(held));
    }
    return out;
  }
}

function unpack(held: Held): Decision {
  return DECISION_CODEC.unpack(JSON.parse(held.packed));
}
