/**
 * Keyed actors come and go with activity: an actor is released once a whole idle period passed
 * without a command, never while commands keep coming, and a key used again gets a fresh actor.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Scope, TestClock } from "effect"
import * as KeyedActors from "../../src/hub/KeyedActors.ts"

type Command = { readonly n: number; readonly reply: Deferred.Deferred<number> }

const make = KeyedActors.make<Command>({
  name: "test",
  idleAfter: Duration.seconds(30),
  maxBatch: 16,
  receive: (_, batch) => Effect.forEach(batch, (command) => Deferred.succeed(command.reply, command.n + 1))
})

const ask = (actors: KeyedActors.KeyedActors<Command>, key: string, n: number) =>
  actors.ask<number, never>(key, (reply) => ({ n, reply }))

describe("KeyedActors lifetime", () => {
  it.scoped("an idle actor is released after its period; the key then gets a new one", () =>
    Effect.gen(function* () {
      const actors = yield* make
      expect(yield* ask(actors, "a", 1)).toBe(2)
      expect(actors.size()).toBe(1)
      yield* TestClock.adjust(Duration.seconds(29))
      expect(actors.size()).toBe(1)
      // The first idle mark (at 30 s) finds less than a full quiet period behind it only if there
      // was activity; here there was none since 0 s, so by the second mark it is gone at the latest.
      yield* TestClock.adjust(Duration.seconds(31))
      expect(actors.size()).toBe(0)
      expect(yield* ask(actors, "a", 5)).toBe(6)
      expect(actors.size()).toBe(1)
    })
  )

  it.scoped("an actor that keeps receiving commands is never released", () =>
    Effect.gen(function* () {
      const actors = yield* make
      for (let i = 0; i < 10; i++) {
        expect(yield* ask(actors, "busy", i)).toBe(i + 1)
        yield* TestClock.adjust(Duration.seconds(20))
      }
      expect(actors.size()).toBe(1)
    })
  )
})

describe("KeyedActors when their scope closes", () => {
  it.effect("commands still queued, and commands posted afterwards, are answered as interrupted, never left waiting", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const entered = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const actors = yield* KeyedActors.make<Command>({
        name: "test",
        idleAfter: Duration.seconds(30),
        maxBatch: 1,
        // The first command holds the actor, so the next ones wait in the inbox.
        receive: (_, batch) =>
          Effect.forEach(batch, (command) =>
            command.n === 0
              ? Deferred.succeed(entered, undefined).pipe(Effect.zipRight(Deferred.await(release)), Effect.zipRight(Deferred.succeed(command.reply, 0)))
              : Deferred.succeed(command.reply, command.n + 1)
          )
      }).pipe(Scope.extend(scope))
      const busy = yield* actors.submit<number, never>("a", (reply) => ({ n: 0, reply }))
      yield* Deferred.await(entered)
      const queued = yield* actors.submit<number, never>("a", (reply) => ({ n: 1, reply }))
      yield* Scope.close(scope, Exit.void)
      expect(Exit.isInterrupted(yield* Effect.exit(queued))).toBe(true)
      expect(Exit.isInterrupted(yield* Effect.exit(busy))).toBe(true)
      const late = yield* Deferred.make<number>()
      actors.post("b", { n: 2, reply: late })
      expect(Exit.isInterrupted(yield* Effect.exit(Deferred.await(late)))).toBe(true)
    })
  )
})
