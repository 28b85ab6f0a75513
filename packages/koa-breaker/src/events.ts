/**
 * The events a breaker emits, and a small emitter that never lets a throwing listener fail the
 * call that triggered it (the error goes to `onListenerError`).
 */
import type { RejectReason } from './errors.js';
import type { OpenReason, TripFigures } from './state.js';

interface Base {
  /** The breaker's `name`. */
  name: string;
  /** The key of a keyed middleware breaker (`options.key(ctx)`); absent otherwise. */
  key?: string;
}

/** Payloads of the events, by event name. */
export interface BreakerEvents {
  /** The breaker opened: calls are refused for `openMs`. */
  open: Base & { reason: OpenReason; openMs: number; figures: TripFigures };
  /** The open time is over: the next callers are probes. Emitted lazily, on the first call after it. */
  halfOpen: Base;
  /** Enough probes succeeded: the breaker is closed again. */
  close: Base;
  /** A call was refused without running. */
  reject: Base & { reason: RejectReason };
  /** A call ran past `timeoutMs`; its signal has been aborted. */
  timeout: Base & { timeoutMs: number };
  /** A call counted as a success. */
  success: Base & { durationMs: number };
  /** A call counted as a failure (`error` is absent for a 5xx response). */
  failure: Base & { durationMs: number; error?: unknown };
}

export type BreakerEventName = keyof BreakerEvents;
export type BreakerListener<E extends BreakerEventName> = (payload: BreakerEvents[E]) => void;

type AnyListener = (payload: never) => void;

export class Emitter {
  private readonly listeners: Partial<Record<BreakerEventName, AnyListener[]>> = {};

  constructor(public onListenerError: (err: unknown) => void) {}

  on<E extends BreakerEventName>(event: E, listener: BreakerListener<E>): void {
    // Copy on write: an emit in progress keeps the list it started with.
    this.listeners[event] = [...(this.listeners[event] ?? []), listener as AnyListener];
  }

  off<E extends BreakerEventName>(event: E, listener: BreakerListener<E>): void {
    const list = this.listeners[event];
    if (!list) return;
    const next = list.filter((l) => l !== listener);
    if (next.length) this.listeners[event] = next;
    else delete this.listeners[event];
  }

  /** Cheap test so the hot path builds no payload nobody listens to. */
  has(event: BreakerEventName): boolean {
    return this.listeners[event] !== undefined;
  }

  emit<E extends BreakerEventName>(event: E, payload: BreakerEvents[E]): void {
    const list = this.listeners[event] as Array<BreakerListener<E>> | undefined;
    if (!list) return;
    for (const l of list) {
      try {
        l(payload);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  clear(): void {
    for (const k of Object.keys(this.listeners)) delete this.listeners[k as BreakerEventName];
  }
}
