// A tiny observable value: the panels of the dashboard share state (the resolved configuration,
// the latest live statistics, the lookup history) through these instead of calling each other.

export type Listener<T> = (value: T) => void;

export class Store<T> {
  private current: T;
  private readonly listeners = new Set<Listener<T>>();

  constructor(initial: T) {
    this.current = initial;
  }

  get value(): T {
    return this.current;
  }

  /** Replaces the value and tells every subscriber, in subscription order. */
  set(next: T): void {
    this.current = next;
    for (const fn of this.listeners) fn(next);
  }

  /** Calls `fn` now with the current value and after every set(); returns the unsubscribe. */
  subscribe(fn: Listener<T>): () => void {
    this.listeners.add(fn);
    fn(this.current);
    return () => this.listeners.delete(fn);
  }
}
