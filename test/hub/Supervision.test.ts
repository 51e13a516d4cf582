/**
 * Supervision: a defect is contained where it happens. In an actor it fails only the command that
 * hit it; in a request handler it answers that request with `err unexpected` (with its `req_id`)
 * while the connection, and every other session, goes on.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Layer, ManagedRuntime, Option } from "effect"
import { afterEach, it as vitestIt } from "vitest"
import * as Actor from "../../src/hub/Actor.ts"
import { layerWith } from "../../src/hub/Hub.ts"
import { HubConfig } from "../../src/hub/HubConfig.ts"
import * as KeyedActors from "../../src/hub/KeyedActors.ts"
import { layerUnavailable, Messaging } from "../../src/hub/Messaging.ts"
import * as UnixSocket from "../../src/transport/UnixSocket.ts"
import { NdjsonClient } from "../support/NdjsonClient.ts"
import { tempDataDir } from "../support/TestHub.ts"

type Command = { readonly n: number; readonly reply: Deferred.Deferred<number> }

describe("actors contain defects", () => {
  it.scoped("a defect fails only the command that hit it; the actor keeps its state and goes on", () =>
    Effect.gen(function* () {
      const actor = yield* Actor.make<number, Command>({
        name: "test",
        initial: 0,
        receive: (total, command) =>
          command.n < 0
            ? Effect.die(new Error("boom"))
            : Effect.as(Deferred.succeed(command.reply, total + command.n), total + command.n)
      })
      expect(yield* actor.ask<number, never>((reply) => ({ n: 2, reply }))).toBe(2)
      const failed = yield* Effect.exit(actor.ask<number, never>((reply) => ({ n: -1, reply })))
      expect(Exit.isFailure(failed) && !Exit.isInterrupted(failed)).toBe(true)
      expect(yield* actor.ask<number, never>((reply) => ({ n: 3, reply }))).toBe(5)
    })
  )

  it.scoped("a keyed actor's defect fails that batch's replies; the same key and other keys keep working", () =>
    Effect.gen(function* () {
      const actors = yield* KeyedActors.make<Command>({
        name: "test",
        idleAfter: Duration.seconds(10),
        maxBatch: 16,
        receive: (key, batch) =>
          Effect.forEach(batch, (command) =>
            command.n < 0 ? Effect.die(new Error(`boom in ${key}`)) : Deferred.succeed(command.reply, command.n * 10)
          )
      })
      const bad = yield* Effect.exit(actors.ask<number, never>("a", (reply) => ({ n: -1, reply })))
      expect(Exit.isFailure(bad)).toBe(true)
      expect(yield* actors.ask<number, never>("a", (reply) => ({ n: 1, reply }))).toBe(10)
      expect(yield* actors.ask<number, never>("b", (reply) => ({ n: 2, reply }))).toBe(20)
    })
  )
})

describe("a request handler's defect", () => {
  let runtime: ManagedRuntime.ManagedRuntime<unknown, unknown> | undefined
  afterEach(async () => runtime?.dispose())

  vitestIt("is answered with err unexpected carrying the req_id, and the hub keeps serving everyone", async () => {
    const dataDir = tempDataDir()
    // A messaging service whose `send` has a bug: it dies.
    const healthy = Effect.runSync(Effect.provide(Messaging, layerUnavailable))
    const buggy = Layer.succeed(Messaging, Messaging.of({ ...healthy, send: () => Effect.die(new Error("bug in send")) }))
    const hub = UnixSocket.layer.pipe(
      Layer.provideMerge(layerWith(buggy)),
      Layer.provideMerge(HubConfig.layer({ dataDir, websocketPort: Option.none() }))
    )
    runtime = ManagedRuntime.make(hub) as ManagedRuntime.ManagedRuntime<unknown, unknown>
    const config = await runtime.runPromise(HubConfig as never as Effect.Effect<HubConfig["Type"]>)
    const a = await NdjsonClient.connect(config.socketPath)
    const b = await NdjsonClient.connect(config.socketPath)
    await a.register("alice")
    await b.register("bob")
    const answer = await a.request({ type: "send", to: "bob", text: "hi" })
    expect(answer).toMatchObject({ type: "err", code: "unexpected", req_id: answer.req_id })
    expect(answer.message).toContain("still running")
    // The same connection goes on, and so does everyone else.
    expect(await a.request({ type: "ping" })).toMatchObject({ type: "pong" })
    expect((await b.request({ type: "list_peers" })).peers.map((p: { name: string }) => p.name)).toEqual(["alice"])
    a.close()
    b.close()
  })
})
