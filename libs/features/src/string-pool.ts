/**
 * One instance of each distinct string that kept records refer to, under a 32-bit id, counted:
 * a value goes when the last record holding it lets it go. Records keep ids in typed arrays
 * instead of pointers in JS arrays (4 bytes instead of 8, nothing for the GC to trace) and hold
 * no copy of their own. Id 0 is null.
 */
export class StringPool {
  private readonly ids = new Map<string, number>();
  private readonly strings: string[] = [''];
  private refs = new Int32Array(1024);
  private readonly free: number[] = [];

  /** Distinct strings held. */
  get size(): number {
    return this.ids.size;
  }

  /** Every id handed out so far is below this (ids are reused, so it grows only with the most ever held at once). */
  get span(): number {
    return this.strings.length;
  }

  /** The id of `s` (0 for null), counting one more holder. */
  acquire(s: string | null): number {
    if (s === null) return 0;
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.free.pop() ?? this.strings.length;
      if (id >= this.refs.length) {
        const refs = new Int32Array(this.refs.length * 2);
        refs.set(this.refs);
        this.refs = refs;
      }
      this.strings[id] = s;
      this.ids.set(s, id);
    }
    this.refs[id]++;
    return id;
  }

  /** One holder fewer of `id`; the string goes with the last. */
  release(id: number): void {
    if (id === 0 || --this.refs[id] > 0) return;
    this.ids.delete(this.strings[id]);
    this.strings[id] = '';
    this.free.push(id);
  }

  /** The string of `id` (null for 0). */
  text(id: number): string | null {
    return id === 0 ? null : this.strings[id];
  }
}

interface ListNode {
  next: Map<string, ListNode> | null;
  id: number;
}

/**
 * Distinct lists of reason codes under a 16-bit id (0: the empty list): a click keeps which of a
 * few hundred combinations it got, not an array of its own. Found through a trie by code, so
 * looking one up allocates nothing. Ids are never released: codes come from a fixed catalogue and
 * their combinations seen in traffic are few; past `max` lists, `id` answers -1 (the caller keeps
 * that list itself).
 */
export class CodeLists {
  private readonly root: ListNode = { next: null, id: 0 };
  private readonly lists: (readonly string[])[] = [NO_CODES];

  constructor(private readonly max = 0xfffe) {}

  /** The id of the list `codes` (one shared frozen copy per distinct list), or -1 when full. */
  id(codes: readonly string[]): number {
    let node = this.root;
    for (let i = 0; i < codes.length; i++) {
      let child = node.next?.get(codes[i]);
      if (child === undefined) {
        child = { next: null, id: -1 };
        (node.next ??= new Map()).set(codes[i], child);
      }
      node = child;
    }
    if (node.id < 0 && this.lists.length <= this.max) {
      node.id = this.lists.length;
      this.lists.push(Object.freeze(codes.slice()));
    }
    return node.id;
  }

  /** The list of `id`. */
  list(id: number): readonly string[] {
    return this.lists[id];
  }
}

const NO_CODES: readonly string[] = Object.freeze([]);
