/**
 * A one-shot answer to one request, completed by an actor (a mailbox once the store has committed,
 * a group actor) and waited on by a callback or by a fiber.
 *
 * Why not a `Deferred`: every `send` has one, and the session only needs to be called back to put
 * the answer in its place in the reply order. A `Deferred` needs a fiber suspended on it per
 * request; this is a plain object and a function call.
 */
import { type Cause, Effect, Exit } from "effect"

/** The waiting side of a `Reply`. */
export interface Pending<out A, out E> {
  /** Calls `waiter` once with the outcome: now if it is known, else when it is. */
  readonly onDone: (waiter: (exit: Exit.Exit<A, E>) => void) => void
  /** Waits in a fiber; interrupting the wait leaves the reply as it is. */
  readonly await: Effect.Effect<A, E>
}

export class Reply<A, E> implements Pending<A, E> {
  private exit: Exit.Exit<A, E> | undefined
  private waiters: Array<(exit: Exit.Exit<A, E>) => void> | undefined

  /** The first completion wins; later ones are ignored (as with `Deferred`). */
  complete(exit: Exit.Exit<A, E>): void {
    if (this.exit !== undefined) return
    this.exit = exit
    const waiters = this.waiters
    this.waiters = undefined
    if (waiters !== undefined) for (const waiter of waiters) waiter(exit)
  }

  succeed(value: A): void {
    this.complete(Exit.succeed(value))
  }

  fail(error: E): void {
    this.complete(Exit.fail(error))
  }

  failCause(cause: Cause.Cause<E>): void {
    this.complete(Exit.failCause(cause))
  }

  isDone(): boolean {
    return this.exit !== undefined
  }

  readonly onDone = (waiter: (exit: Exit.Exit<A, E>) => void): void => {
    if (this.exit !== undefined) waiter(this.exit)
    else (this.waiters ??= []).push(waiter)
  }

  get await(): Effect.Effect<A, E> {
    return Effect.async<A, E>((resume) => {
      let active = true
      this.onDone((exit) => {
        if (active) resume(exit)
      })
      return Effect.sync(() => {
        active = false
      })
    })
  }
}

export const isReply = (value: unknown): value is Reply<unknown, unknown> => value instanceof Reply
