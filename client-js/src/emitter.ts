/**
 * A small typed event emitter.
 *
 * @module
 */

/** A function that removes the handler it was returned for. */
export type Unsubscribe = () => void;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Handler = (arg: any) => void;

/**
 * Typed event emitter: `Events` maps event names to their argument type.
 * Names outside the map are allowed too (stream event types); their argument
 * type is given by `Other`.
 */
export class Emitter<Events extends object, Other = never> {
  private readonly listeners = new Map<string, Set<Handler>>();

  /**
   * Registers handler for the event name and returns a function that removes
   * it. A handler that throws does not stop the others; the error is
   * reported asynchronously so it still shows up in the console.
   */
  on<K extends keyof Events & string>(name: K, handler: (arg: Events[K]) => void): Unsubscribe;
  on(name: string, handler: (arg: Other) => void): Unsubscribe;
  on(name: string, handler: Handler): Unsubscribe {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(handler);
    this.added(name);
    return () => this.off(name, handler);
  }

  /** Registers a handler that runs once. */
  once<K extends keyof Events & string>(name: K, handler: (arg: Events[K]) => void): Unsubscribe;
  once(name: string, handler: (arg: Other) => void): Unsubscribe;
  once(name: string, handler: Handler): Unsubscribe {
    const off = this.on(name, (arg: unknown) => {
      off();
      handler(arg);
    });
    return off;
  }

  /** Removes a handler registered with {@link on}. */
  off(name: string, handler: Handler): void {
    const set = this.listeners.get(name);
    if (!set) return;
    set.delete(handler);
    if (set.size === 0) this.listeners.delete(name);
  }

  /** Removes every handler. */
  removeAllListeners(): void {
    this.listeners.clear();
  }

  /** The event names that currently have handlers. */
  eventNames(): string[] {
    return [...this.listeners.keys()];
  }

  /** Called after a handler was added for name; subclasses may react. */
  protected added(_name: string): void {}

  /** Calls every handler of name with arg. */
  protected emit<K extends keyof Events & string>(name: K, arg: Events[K]): void;
  protected emit(name: string, arg: Other): void;
  protected emit(name: string, arg: unknown): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const h of [...set]) {
      try {
        h(arg);
      } catch (err) {
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }
}
