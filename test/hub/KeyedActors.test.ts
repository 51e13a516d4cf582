/**
 * Keyed actors come and go with activity: an actor is released once a whole idle period passed
 * without a command, never while commands keep coming, and a key used again gets a fresh actor.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, TestClock } from "effect"
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
