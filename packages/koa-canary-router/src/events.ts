import type { Context } from 'koa';
import type { Weights } from './weights.js';

/** Why the request got its arm, as recorded in `ctx.state.canary`. */
export interface CanaryDecision {
  readonly rollout: string;
  /** The arm that serves the request (stable after a fallback). */
  readonly arm: string;
  /** The arm's version, also in `ctx.state.version` and `X-Service-Version`. */
  readonly version: string;
  /** `rule` when a rule chose the arm, `weight` when the key's bucket did. */
  readonly reason: 'rule' | 'weight';
  /** Which stickiness key placed a weighted request; undefined for rules. */
  readonly key: 'user' | 'cookie' | 'ip' | undefined;
  /** Set when the chosen arm had no usable target and stable served instead. */
  readonly fallback?: { readonly from: string; readonly error: unknown };
}

/** Payloads of the router's events. */
export interface CanaryRouterEvents {
  /** Every routed request, after the arm (and any fallback) is known. */
  decision: (event: CanaryDecision & { readonly ctx: Context }) => void;
  /** After `setWeights` changed the split. */
  weights: (event: { readonly previous: Weights; readonly current: Weights }) => void;
}

export type EventName = keyof CanaryRouterEvents;

/** A minimal typed emitter whose listeners cannot break the emitter's caller. */
export class Listeners {
  private readonly lists: { [K in EventName]: Array<CanaryRouterEvents[K]> } = {
    decision: [],
    weights: [],
  };

  has(event: EventName): boolean {
    return this.lists[event].length > 0;
  }

  on<K extends EventName>(event: K, listener: CanaryRouterEvents[K]): void {
    this.lists[event].push(listener);
  }

  off<K extends EventName>(event: K, listener: CanaryRouterEvents[K]): void {
    const list = this.lists[event];
    const i = list.lastIndexOf(listener);
    if (i !== -1) list.splice(i, 1);
  }

  /** Calls every listener; returns the errors thrown, for the caller to report. */
  emit<K extends EventName>(event: K, payload: Parameters<CanaryRouterEvents[K]>[0]): unknown[] {
    let errors: unknown[] | undefined;
    // A copy, so a listener that removes itself does not skip its neighbour.
    for (const listener of [...this.lists[event]]) {
      try {
        (listener as (p: typeof payload) => void)(payload);
      } catch (err) {
        (errors ??= []).push(err);
      }
    }
    return errors ?? [];
  }
}
