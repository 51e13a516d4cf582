/**
 * Actors created on demand, one per key (a mailbox per recipient, a group actor per group), and
 * released when they have been idle for a while, so the number of live actors follows activity,
 * not the number of names ever used.
 *
 * An actor receives commands in batches: everything queued since it last looked, in order, so a
 * mailbox can store a burst of messages in one write. A defect while handling a batch is logged and
 * fails that batch's replies; the actor goes on.
 */
import { Cause, Chunk, Clock, Deferred, Duration, Effect, FiberId, FiberSet, Option, Queue, type Scope } from "effect"
import { failReplyOf } from "./Actor.ts"

const Idle = Symbol("Idle")

export interface KeyedActors<Command> {
  readonly tell: (key: string, command: Command) => Effect.Effect<void>
  readonly ask: <A, E>(key: string, command: (reply: Deferred.Deferred<A, E>) => Command) => Effect.Effect<A, E>
  /**
   * Queues the command now and returns the wait for its answer, so a caller can queue several
   * before waiting on any (a pipelined burst then reaches the actor as one batch).
   */
  readonly submit: <A, E>(
    key: string,
    command: (reply: Deferred.Deferred<A, E>) => Command
  ) => Effect.Effect<Effect.Effect<A, E>>
  /**
   * Queues the command now, outside any fiber: for commands that carry their own `Reply` (the
   * per-message hot path, where a fiber per answer costs more than the work).
   */
  readonly post: (key: string, command: Command) => void
  readonly size: () => number
}

export const make = <Command>(options: {
  readonly name: string
  readonly idleAfter: Duration.Duration
  readonly maxBatch: number
  readonly receive: (key: string, batch: ReadonlyArray<Command>) => Effect.Effect<void>
}): Effect.Effect<KeyedActors<Command>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const idleMillis = Duration.toMillis(options.idleAfter)
    const actors = new Map<string, Queue.Queue<Command | typeof Idle>>()
    const run = yield* FiberSet.makeRuntime<never>()

    // Idleness is a mark in the inbox, not a timeout on `take`: interrupting a take at the instant an
    // item is handed to it could lose that item (a request never answered).
    //
    // One step takes a batch and handles it. Only the take and the handling can be interrupted,
    // not the moment between them, so a batch taken is always either handled or answered as
    // interrupted. `undefined`: the actor left (idle).
    const step = (key: string, inbox: Queue.Queue<Command | typeof Idle>, lastActive: number): Effect.Effect<number | undefined> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(Queue.takeBetween(inbox, 1, options.maxBatch)), (batch) => {
          const commands = Chunk.toReadonlyArray(batch).filter((item): item is Command => item !== Idle)
          if (commands.length === 0) {
            // Only idle marks: leave if nothing came for a whole period and nothing is waiting
            // (checked and removed in one step, so a command is never offered to a dead inbox).
            return Effect.flatMap(Clock.currentTimeMillis, (now) => {
              if (now - lastActive < idleMillis || Option.getOrElse(inbox.unsafeSize(), () => 0) > 0) {
                return Effect.succeed(lastActive)
              }
              actors.delete(key)
              return Effect.as(Queue.shutdown(inbox), undefined)
            })
          }
          return restore(options.receive(key, commands)).pipe(
            // Stopped mid-batch (the hub is stopping): its callers get an answer, not silence.
            Effect.onInterrupt(() => Effect.forEach(commands, (command) => failReplyOf(command, stopping))),
            Effect.catchAllCause((cause) =>
              Cause.isInterruptedOnly(cause)
                ? Effect.failCause(cause)
                : Effect.logError("actor batch failed; its requests were answered with an error", cause).pipe(
                    Effect.annotateLogs({ actor: options.name, key }),
                    Effect.zipRight(Effect.forEach(commands, (command) => failReplyOf(command, cause as Cause.Cause<unknown>)))
                  )
            ),
            Effect.zipRight(Clock.currentTimeMillis)
          )
        })
      )

    const loop = (key: string, inbox: Queue.Queue<Command | typeof Idle>, lastActive: number): Effect.Effect<void> =>
      Effect.flatMap(step(key, inbox, lastActive), (next) => (next === undefined ? Effect.void : loop(key, inbox, next)))

    /** Marks the inbox every period; ends when the inbox is shut down (offering to it interrupts). */
    const idleMarks = (inbox: Queue.Queue<Command | typeof Idle>) =>
      Effect.sleep(options.idleAfter).pipe(Effect.zipRight(Queue.offer(inbox, Idle)), Effect.forever)

    // When the scope closes, commands still waiting in an inbox are answered as interrupted and the
    // inboxes shut (offering to one then interrupts, posting fails the reply): nobody waits forever.
    let closed = false
    const stopping = Cause.interrupt(FiberId.none)
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        return Effect.forEach(
          [...actors.values()],
          (inbox) =>
            Queue.takeAll(inbox).pipe(
              Effect.flatMap((pending) => Effect.forEach(pending, (item) => (item === Idle ? Effect.void : failReplyOf(item, stopping)))),
              Effect.zipRight(Queue.shutdown(inbox))
            ),
          { discard: true }
        )
      })
    )
    const stoppedInbox = Effect.runSync(Effect.tap(Queue.unbounded<Command | typeof Idle>(), Queue.shutdown))

    const inboxOf = (key: string) => {
      if (closed) return stoppedInbox
      let inbox = actors.get(key)
      if (inbox === undefined) {
        const created = Effect.runSync(Queue.unbounded<Command | typeof Idle>())
        inbox = created
        actors.set(key, created)
        run(Effect.flatMap(Clock.currentTimeMillis, (now) => loop(key, created, now)))
        run(idleMarks(created))
      }
      return inbox
    }

    const submit = <A, E>(key: string, build: (reply: Deferred.Deferred<A, E>) => Command) =>
      Effect.gen(function* () {
        const reply = yield* Deferred.make<A, E>()
        yield* Queue.offer(inboxOf(key), build(reply))
        return Deferred.await(reply)
      })

    return {
      tell: (key, command) => Effect.suspend(() => Queue.offer(inboxOf(key), command)).pipe(Effect.asVoid),
      ask: (key, build) => Effect.flatten(submit(key, build)),
      submit,
      post: (key, command) => {
        // Refused only once the actors are stopping (the hub is): the caller must not wait forever.
        if (!inboxOf(key).unsafeOffer(command)) Effect.runSync(failReplyOf(command, stopping))
      },
      size: () => actors.size
    }
  })

/**
 * Handles a batch in order, giving consecutive commands that `inRun` picks to `handleRun` together
 * (a burst of sends: one store write) and every other command to `handleOne` where it stands.
 */
export const inRuns = <Command, Run extends Command>(
  batch: ReadonlyArray<Command>,
  inRun: (command: Command) => command is Run,
  handleRun: (run: ReadonlyArray<Run>) => Effect.Effect<void>,
  handleOne: (command: Exclude<Command, Run>) => Effect.Effect<void>
): Effect.Effect<void> =>
  Effect.gen(function* () {
    let run: Array<Run> = []
    for (const command of batch) {
      if (inRun(command)) {
        run.push(command)
        continue
      }
      if (run.length > 0) yield* handleRun(run)
      run = []
      yield* handleOne(command as Exclude<Command, Run>)
    }
    if (run.length > 0) yield* handleRun(run)
  })
