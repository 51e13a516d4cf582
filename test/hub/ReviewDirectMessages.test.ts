/**
 * Races between a mailbox actor's store write and the recipient registering while it is in flight.
 *
 * The real mailbox actors, registry and SQLite store (in memory); the store's burst write is held
 * at a gate so that "the recipient registers while a message to it is being stored" happens every
 * run, not by luck. Connections are fakes that record what the hub pushed.
 */
import { Deferred, Duration, Effect, Layer } from "effect"
import { describe, expect, it } from "@effect/vitest"
import * as DirectMessages from "../../src/hub/DirectMessages.ts"
import { HubConfig } from "../../src/hub/HubConfig.ts"
import { isLater, type Outcome } from "../../src/hub/Outcome.ts"
import type { Peer } from "../../src/hub/Peer.ts"
import * as Registry from "../../src/hub/Registry.ts"
import * as SqliteStore from "../../src/store/SqliteStore.ts"
import { Store } from "../../src/store/Store.ts"
import { FakeConnection } from "./support/FakeConnection.ts"

/** Holds the next burst write until released; `entered` says the mailbox actor is inside it. */
const makeGate = () => {
  let held: { entered: Deferred.Deferred<void>; release: Deferred.Deferred<void> } | undefined
  return {
    arm: Effect.gen(function* () {
      const gate = { entered: yield* Deferred.make<void>(), release: yield* Deferred.make<void>() }
      held = gate
      return gate
    }),
    pass: Effect.suspend(() => {
      const gate = held
      held = undefined
      return gate === undefined
        ? Effect.void
        : Deferred.succeed(gate.entered, undefined).pipe(Effect.zipRight(Deferred.await(gate.release)))
    })
  }
}

const gate = makeGate()

const GatedStore = Layer.effect(
  Store,
  Effect.map(Store, (inner) => Store.of({ ...inner, appendDirectMany: (inputs) => Effect.zipRight(gate.pass, inner.appendDirectMany(inputs)) }))
).pipe(Layer.provide(SqliteStore.layerMemory()))

const Config = HubConfig.layer({
  dataDir: "/nonexistent/relay-review-direct",
  sweepInterval: Duration.hours(1)
})

const TestLayer = Layer.mergeAll(GatedStore, Registry.layer).pipe(Layer.provideMerge(Config))

const answerOf = (outcome: Outcome) => {
  if (!isLater(outcome)) throw new Error(`expected a later answer, got ${JSON.stringify(outcome)}`)
  return outcome.answer.await
}

const pushedTexts = (connection: FakeConnection) =>
  connection.sent.map((line) => JSON.parse(line)).filter((frame) => frame.type === "incoming_message").map((frame) => frame.text)

let nextId = 1
const connect = (name: string, protocolVersion: "5" | "6") =>
  Effect.gen(function* () {
    const registry = yield* Registry.Registry
    const connection = new FakeConnection(nextId++)
    const peer = yield* registry.register({ connection, name, cwd: "", gitBranch: "", protocolVersion })
    return { connection, peer }
  })

type Direct = Effect.Effect.Success<typeof DirectMessages.make>

const send = (direct: Direct, from: Peer, to: string, text: string) =>
  Effect.flatMap(direct.send(from, { type: "send", to, text }), answerOf)

describe("mailbox actor vs a recipient registering during a store write", () => {
  it.scopedLive("v6: mail queued before the recipient connected is pushed on connect, oldest first, even when a new message is being stored at that moment", () =>
    Effect.gen(function* () {
      const direct = yield* DirectMessages.make
      const alice = yield* connect("alice", "6")
      for (const text of ["old-1", "old-2"]) {
        expect(yield* send(direct, alice.peer, "bob", text)).toMatchObject({ type: "send_ack", status: "queued" })
      }

      const held = yield* gate.arm
      const inFlight = yield* Effect.fork(send(direct, alice.peer, "bob", "new"))
      yield* Deferred.await(held.entered)
      // Bob registers while "new" is being written; the hub then asks his mailbox to push what waited.
      const bob = yield* connect("bob", "6")
      yield* direct.connected(bob.peer)
      yield* Deferred.succeed(held.release, undefined)
      yield* inFlight.await

      // One more message through bob's mailbox: when it is answered, the flush before it has run.
      yield* send(direct, alice.peer, "bob", "after")
      expect(pushedTexts(bob.connection)).toEqual(["old-1", "old-2", "new", "after"])
    }).pipe(Effect.provide(TestLayer)))

  it.scopedLive("v5: a message pushed to a session that registered during its write is delivered, not returned again by inbox", () =>
    Effect.gen(function* () {
      const direct = yield* DirectMessages.make
      const alice = yield* connect("alice", "5")

      const held = yield* gate.arm
      const inFlight = yield* Effect.fork(send(direct, alice.peer, "carol", "hello"))
      yield* Deferred.await(held.entered)
      const carol = yield* connect("carol", "5")
      yield* Deferred.succeed(held.release, undefined)
      const ack = yield* Effect.flatten(inFlight.await)

      expect(ack).toMatchObject({ type: "send_ack", status: "delivered" })
      expect(pushedTexts(carol.connection)).toEqual(["hello"])
      // What the ack said is what the store says, and the pushed message is not unread again.
      const status = yield* direct.status(alice.peer, { type: "msg_status", msg_id: String(ack!.msg_id) })
      expect(status).toMatchObject({ state: "delivered" })
      const inbox = yield* direct.inbox(carol.peer, { type: "inbox" })
      expect(inbox).toMatchObject({ type: "inbox_result", messages: [], remaining: 0 })
    }).pipe(Effect.provide(TestLayer)))
})
