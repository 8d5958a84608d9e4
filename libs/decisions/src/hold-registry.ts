import Heap from 'mnemonist/heap';
import type { Decision } from '@app/contracts';

/**
 * Decisions on hold, by the time they resolve by themselves. A hold settled earlier (feedback,
 * analyst) is dropped lazily: the heap entry is skipped when its decision is no longer current.
 */
export class HoldRegistry {
  private readonly heap = new Heap<{ due: number; conversionId: string; revision: number }>((a, b) => a.due - b.due);
  private readonly current = new Map<string, Decision>();

  get size(): number {
    return this.current.size;
  }

  /** Tracks a decision on hold (ignores others and revisions older than what is held). */
  track(decision: Decision): void {
    if (decision.status !== 'hold' || !decision.holdUntil) return;
    const held = this.current.get(decision.conversionId);
    if (held && held.revision > decision.revision) return;
    this.current.set(decision.conversionId, decision);
    this.heap.push({ due: Date.parse(decision.holdUntil), conversionId: decision.conversionId, revision: decision.revision });
  }

  get(conversionId: string): Decision | undefined {
    return this.current.get(conversionId);
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
      out.push(held);
    }
    return out;
  }
}
