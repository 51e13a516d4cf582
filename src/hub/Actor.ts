/**
 * The smallest actor that fits the hub: one fiber owns a piece of state and handles commands from a
 * queue one at a time. Callers `tell` (fire and forget) or `ask` (a `Deferred` carries the answer).
 *
 * Supervision: a defect while handling one command is logged, fails only that command's `ask` (a
 * command that expects an answer carries it in a `reply` field), and the actor goes on with the
 * state it had before the command.
 */
import { Cause, Deferred, Effect, Queue, type Scope } from "effect"
import { isReply } from "./Reply.ts"

export interface Actor<Command> {
  readonly tell: (command: Command) => Effect.Effect<void>
  readonly ask: <A, E>(command: (reply: Deferred.Deferred<A, E>) => Command) => Effect.Effect<A, E>
}

export const make = <State, Command>(options: {
  readonly name: string
  readonly initial: State
  readonly receive: (state: State, command: Command) => Effect.Effect<State>
}): Effect.Effect<Actor<Command>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const inbox = yield* Effect.acquireRelease(Queue.unbounded<Command>(), Queue.shutdown)
    let state = options.initial

    const step = (command: Command) =>
      options.receive(state, command).pipe(
        Effect.tap((next) =>
          Effect.sync(() => {
            state = next
          })
        ),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.logError("actor command failed; state kept", cause).pipe(
                Effect.annotateLogs({ actor: options.name }),
                Effect.zipRight(failReplyOf(command, cause)),
                Effect.asVoid
              )
        )
      )

    yield* Queue.take(inbox).pipe(Effect.flatMap(step), Effect.forever, Effect.forkScoped)

    return {
      tell: (command) => Queue.offer(inbox, command).pipe(Effect.asVoid),
      ask: <A, E>(build: (reply: Deferred.Deferred<A, E>) => Command) =>
        Effect.gen(function* () {
          const reply = yield* Deferred.make<A, E>()
          yield* Queue.offer(inbox, build(reply))
          return yield* Deferred.await(reply)
        })
    }
  })

/** Fails the command's `reply` (a `Deferred` or a `Reply`), if it has one, so its caller is not left waiting. */
export const failReplyOf = (command: unknown, cause: Cause.Cause<unknown>): Effect.Effect<void> => {
  if (typeof command !== "object" || command === null || !("reply" in command)) return Effect.void
  const reply = (command as { reply: unknown }).reply
  if (isReply(reply)) return Effect.sync(() => reply.failCause(cause))
  return typeof reply === "object" && reply !== null && Deferred.DeferredTypeId in reply
    ? Deferred.failCause(reply as Deferred.Deferred<unknown, unknown>, cause).pipe(Effect.asVoid)
    : Effect.void
}
