import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import { at, direct, kinds } from "./helpers.ts"

for (const kind of kinds) {
  describe(`Store direct messages (${kind.name})`, () => {
    it.scopedLive("append stores a queued message that getMessage returns", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        const first = yield* store.appendDirect({
          from: "A",
          to: "B",
          text: "hi",
          replyTo: "x1",
          urgent: true,
          notifyRead: true,
          now: at(5)
        })
        const second = yield* store.appendDirect(direct("A", "B", "again"))
        expect(first.duplicate).toBe(false)
        expect(first.evicted).toBe(0)
        expect(first.message).toMatchObject({
          from: "A",
          to: "B",
          text: "hi",
          replyTo: "x1",
          urgent: true,
          notifyRead: true,
          state: "queued",
          ts: at(5).toISOString()
        })
        expect(typeof first.message.id).toBe("string")
        expect(second.message.id).not.toBe(first.message.id)
        expect(second.message.seq).toBeGreaterThan(first.message.seq)
        expect(second.message.notifyRead).toBe(false)
        expect(yield* store.getMessage(first.message.id)).toEqual(Option.some(first.message))
        expect(yield* store.getMessage("nope")).toEqual(Option.none())
      })
    )

    it.scopedLive("the same (from, clientId) is stored once; another sender's same key is not a duplicate", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        const a = yield* store.appendDirect(direct("A", "B", "one", { clientId: "c1" }))
        const again = yield* store.appendDirect(direct("A", "B", "one (retry)", { clientId: "c1" }))
        const other = yield* store.appendDirect(direct("C", "B", "other", { clientId: "c1" }))
        expect(again).toEqual({ message: a.message, duplicate: true, evicted: 0 })
        expect(other.duplicate).toBe(false)
        const { messages } = yield* store.unread("B", { limit: 100 })
        expect(messages.map((m) => m.text)).toEqual(["one", "other"])
      })
    )

    it.scopedLive("A5: the 501st message evicts exactly one queued message and counts it as dropped", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        let evicted = 0
        for (let i = 0; i < 500; i++) evicted += (yield* store.appendDirect(direct("A", "B", `m${i}`))).evicted
        expect(evicted).toBe(0)
        const last = yield* store.appendDirect(direct("A", "B", "m500"))
        expect(last.evicted).toBe(1)
        expect(yield* store.takeDropped("B")).toBe(1)
        expect(yield* store.takeDropped("B")).toBe(0)
        const page = yield* store.unread("B", { limit: 1 })
        expect(page.messages[0]!.text).toBe("m1")
        expect(page.remaining).toBe(499)
      })
    )

    it.scopedLive("A5: 600 to an offline peer keeps the newest 500 and reports 100 dropped", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        let evicted = 0
        for (let i = 0; i < 600; i++) evicted += (yield* store.appendDirect(direct("A", "B", `m${i}`))).evicted
        expect(evicted).toBe(100)
        expect(yield* store.takeDropped("B")).toBe(100)
        const first = yield* store.unread("B", { limit: 1 })
        expect(first.messages[0]!.text).toBe("m100")
        expect(first.remaining).toBe(499)
      })
    )

    it.scopedLive("evicting messages that were already delivered is not counted as dropped", () =>
      Effect.gen(function* () {
        const store = yield* kind.open({ mailboxCap: 5 })
        const ids: Array<string> = []
        for (let i = 0; i < 5; i++) ids.push((yield* store.appendDirect(direct("A", "B", `m${i}`))).message.id)
        yield* store.markDelivered("B", ids.slice(0, 2))
        const r1 = yield* store.appendDirect(direct("A", "B", "m5"))
        const r2 = yield* store.appendDirect(direct("A", "B", "m6"))
        const r3 = yield* store.appendDirect(direct("A", "B", "m7"))
        expect([r1.evicted, r2.evicted, r3.evicted]).toEqual([0, 0, 1])
        expect(yield* store.takeDropped("B")).toBe(1)
        expect(yield* store.getMessage(ids[2]!)).toEqual(Option.none())
      })
    )

    it.scopedLive("unread pages oldest first with remaining and sinceId, without changing state", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        for (let i = 0; i < 45; i++) {
          yield* store.appendDirect(direct("A", "B", `m${i}`))
          if (i % 10 === 0) yield* store.appendDirect(direct("A", "C", `other${i}`))
        }
        const p1 = yield* store.unread("B", { limit: 20 })
        expect(p1.messages.map((m) => m.text)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`))
        expect(p1.remaining).toBe(25)
        const p2 = yield* store.unread("B", { limit: 20, sinceId: p1.messages[19]!.id })
        expect(p2.messages[0]!.text).toBe("m20")
        expect(p2.remaining).toBe(5)
        const p3 = yield* store.unread("B", { limit: 20, sinceId: p2.messages[19]!.id })
        expect(p3.messages.map((m) => m.text)).toEqual(["m40", "m41", "m42", "m43", "m44"])
        expect(p3.remaining).toBe(0)
        // Reading did not change anything.
        expect(yield* store.unread("B", { limit: 20 })).toEqual(p1)
        // An id that is not ours does not filter.
        expect((yield* store.unread("B", { limit: 1, sinceId: "garbage" })).messages[0]!.text).toBe("m0")
        expect((yield* store.unread("C", { limit: 100 })).messages).toHaveLength(5)
      })
    )

    it.scopedLive("sinceId still works after the message it names was delivered", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        const ids: Array<string> = []
        for (let i = 0; i < 4; i++) ids.push((yield* store.appendDirect(direct("A", "B", `m${i}`))).message.id)
        yield* store.markDelivered("B", [ids[1]!])
        const page = yield* store.unread("B", { limit: 10, sinceId: ids[1]! })
        expect(page.messages.map((m) => m.text)).toEqual(["m2", "m3"])
      })
    )

    it.scopedLive("delivery state: queued → delivered → read, only for the recipient, never backwards", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        const m1 = (yield* store.appendDirect(direct("A", "B", "one"))).message
        const m2 = (yield* store.appendDirect(direct("A", "B", "two"))).message
        const m3 = (yield* store.appendDirect(direct("A", "B", "three"))).message
        const forC = (yield* store.appendDirect(direct("A", "C", "for C"))).message

        const delivered = yield* store.markDelivered("B", [m2.id, m1.id, forC.id, "unknown"])
        expect(delivered.map((m) => [m.id, m.state])).toEqual([
          [m1.id, "delivered"],
          [m2.id, "delivered"]
        ])
        expect(yield* store.markDelivered("B", [m1.id])).toEqual([])
        expect(Option.getOrThrow(yield* store.getMessage(forC.id)).state).toBe("queued")
        expect((yield* store.unread("B", { limit: 10 })).messages.map((m) => m.id)).toEqual([m3.id])

        const read = yield* store.markRead("B", [m1.id, m3.id, forC.id])
        expect(read.map((m) => [m.id, m.state])).toEqual([
          [m1.id, "read"],
          [m3.id, "read"]
        ])
        expect(yield* store.markRead("B", [m1.id])).toEqual([])
        expect(yield* store.markDelivered("B", [m3.id])).toEqual([])
        expect(Option.getOrThrow(yield* store.getMessage(m3.id)).state).toBe("read")
        expect(Option.getOrThrow(yield* store.getMessage(m2.id)).state).toBe("delivered")
        expect(yield* store.markRead("B", [])).toEqual([])
      })
    )

    it.scopedLive("rename moves the mailbox, sent messages, idempotency keys and the dropped counter", () =>
      Effect.gen(function* () {
        const store = yield* kind.open({ mailboxCap: 2 })
        const toB = (yield* store.appendDirect(direct("A", "B", "to B 1"))).message
        yield* store.appendDirect(direct("A", "B", "to B 2"))
        yield* store.appendDirect(direct("A", "B", "to B 3")) // evicts one
        const fromB = (yield* store.appendDirect(direct("B", "A", "from B", { clientId: "k" }))).message

        yield* store.renamePeer("B", "B2")
        expect((yield* store.unread("B", { limit: 10 })).messages).toEqual([])
        expect((yield* store.unread("B2", { limit: 10 })).messages.map((m) => m.text)).toEqual(["to B 2", "to B 3"])
        expect(yield* store.getMessage(toB.id)).toEqual(Option.none())
        expect(Option.getOrThrow(yield* store.getMessage(fromB.id)).from).toBe("B2")
        const retry = yield* store.appendDirect(direct("B2", "A", "from B (retry)", { clientId: "k" }))
        expect(retry.duplicate).toBe(true)
        expect(retry.message.id).toBe(fromB.id)
        expect(yield* store.takeDropped("B")).toBe(0)
        expect(yield* store.takeDropped("B2")).toBe(1)
        // Renaming to the same name changes nothing.
        yield* store.renamePeer("B2", "B2")
        expect((yield* store.unread("B2", { limit: 10 })).messages).toHaveLength(2)
      })
    )

    it.scopedLive("rename onto a name that has mail merges both mailboxes within the cap, counting the overflow as dropped", () =>
      Effect.gen(function* () {
        const store = yield* kind.open({ mailboxCap: 3, maxMessages: 5 })
        yield* store.appendDirect(direct("A", "old", "o1"))
        yield* store.appendDirect(direct("A", "new", "n1"))
        yield* store.appendDirect(direct("A", "old", "o2"))
        yield* store.appendDirect(direct("A", "new", "n2"))
        yield* store.renamePeer("old", "new")
        expect((yield* store.unread("new", { limit: 10 })).messages.map((m) => m.text)).toEqual(["n1", "o2", "n2"])
        expect(yield* store.takeDropped("new")).toBe(1)
        // The total count followed the eviction: two more fit under maxMessages = 5.
        yield* store.appendDirect(direct("A", "x", "x1"))
        yield* store.appendDirect(direct("A", "y", "y1"))
        expect((yield* Effect.flip(store.appendDirect(direct("A", "z", "z1"))))._tag).toBe("StoreFull")
      })
    )

    it.scopedLive("retention removes direct messages older than the period, counts expired queued ones, keeps groups", () =>
      Effect.gen(function* () {
        const store = yield* kind.open({ retention: Duration.days(30) })
        const day = 86_400
        const oldQueued = (yield* store.appendDirect(direct("A", "B", "old queued", { now: at(0) }))).message
        const oldDelivered = (yield* store.appendDirect(direct("A", "B", "old delivered", { now: at(1) }))).message
        const oldRead = (yield* store.appendDirect(direct("A", "C", "old read", { now: at(2) }))).message
        const edge = (yield* store.appendDirect(direct("A", "B", "exactly 30 days", { now: at(day) }))).message
        const fresh = (yield* store.appendDirect(direct("A", "B", "fresh", { now: at(20 * day) }))).message
        yield* store.markDelivered("B", [oldDelivered.id])
        yield* store.markRead("C", [oldRead.id])
        yield* store.createGroup({ name: "g", admin: "A", members: ["B"], now: at(0) })
        yield* store.appendGroupMessage({ group: "g", from: "A", text: "ancient", kind: "message", now: at(0) })

        const { removed } = yield* store.pruneRetention(at(31 * day))
        expect(removed).toBe(3)
        for (const gone of [oldQueued, oldDelivered, oldRead]) expect(yield* store.getMessage(gone.id)).toEqual(Option.none())
        for (const kept of [edge, fresh]) expect(Option.isSome(yield* store.getMessage(kept.id))).toBe(true)
        expect(yield* store.takeDropped("B")).toBe(1)
        expect(yield* store.takeDropped("C")).toBe(0)
        expect((yield* store.groupHistory("g", "B")).messages.map((m) => m.text)).toEqual(["ancient"])
        expect((yield* store.pruneRetention(at(31 * day))).removed).toBe(0)
      })
    )

    it.scopedLive("StoreFull past the total cap, unless the append evicts; space freed by retention is reusable", () =>
      Effect.gen(function* () {
        const store = yield* kind.open({ maxMessages: 10, mailboxCap: 5 })
        for (let i = 0; i < 5; i++) yield* store.appendDirect(direct("A", "B", `b${i}`, { now: at(i) }))
        for (let i = 0; i < 5; i++) yield* store.appendDirect(direct("A", "C", `c${i}`, { now: at(100) }))
        const refused = yield* Effect.flip(store.appendDirect(direct("A", "D", "no room")))
        expect(refused._tag).toBe("StoreFull")
        expect(refused).toMatchObject({ limit: 10 })
        expect(refused.message).toContain("10")
        expect((yield* store.unread("D", { limit: 10 })).messages).toEqual([])
        yield* store.createGroup({ name: "g", admin: "A", members: [], now: at(0) })
        expect((yield* Effect.flip(store.appendGroupMessage({ group: "g", from: "A", text: "x", kind: "message", now: at(0) })))._tag).toBe("StoreFull")
        // A full mailbox makes room for itself.
        expect((yield* store.appendDirect(direct("A", "B", "b5", { now: at(200) }))).evicted).toBe(1)
        yield* store.pruneRetention(new Date(at(50).getTime() + Duration.toMillis(Duration.days(30))))
        expect((yield* store.appendDirect(direct("A", "D", "room now"))).duplicate).toBe(false)
        const stats = yield* store.stats
        expect(stats.directMessages).toBe(7)
      })
    )
  })
}
