import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import * as path from "node:path"
import { makeSqlite } from "../../src/store/SqliteStore.ts"
import type { AppendDirectInput, AppendDirectResult, StoreShape } from "../../src/store/Store.ts"
import { at, direct, kinds, tempDir } from "./helpers.ts"

const rights = <A, E>(results: ReadonlyArray<Either.Either<A, E>>) =>
  results.map((r) => (Either.isRight(r) ? r.right : expect.fail(`expected a stored message, got ${String(r.left)}`)))

/** What a caller sees of each result: enough to compare a burst with the same appends one by one. */
const outline = (r: Either.Either<AppendDirectResult, { readonly _tag: string }>) =>
  Either.isRight(r) ? [r.right.message.seq, r.right.message.text, r.right.duplicate, r.right.evicted] : [r.left._tag]

const texts = (store: StoreShape, recipient: string) =>
  Effect.map(store.unread(recipient, { limit: 1000 }), (page) => page.messages.map((m) => m.text))

for (const kind of kinds) {
  describe(`Store bursts (${kind.name})`, () => {
    it.scopedLive("a burst commits in one transaction", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        const before = (yield* store.stats).commits
        const results = rights(yield* store.appendDirectMany(Array.from({ length: 64 }, (_, i) => direct(`s${i % 3}`, "B", `m${i}`))))
        expect((yield* store.stats).commits - before).toBe(1)
        expect(results.map((r) => r.message.text)).toEqual(Array.from({ length: 64 }, (_, i) => `m${i}`))
        expect(results.map((r) => r.message.seq)).toEqual([...results.map((r) => r.message.seq)].sort((a, b) => a - b))
      })
    )

    it.scopedLive("A5 in bursts: 501 keeps the newest 500 with 1 dropped, 600 with 100 dropped", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        const send = (to: string, n: number) =>
          Effect.gen(function* () {
            let evicted = 0
            for (let i = 0; i < n; i += 64) {
              const burst = Array.from({ length: Math.min(64, n - i) }, (_, k) => direct("A", to, `m${i + k}`))
              for (const r of rights(yield* store.appendDirectMany(burst))) evicted += r.evicted
            }
            return evicted
          })
        expect(yield* send("B", 501)).toBe(1)
        expect(yield* store.takeDropped("B")).toBe(1)
        const b = yield* store.unread("B", { limit: 1 })
        expect([b.messages[0]!.text, b.remaining]).toEqual(["m1", 499])

        expect(yield* send("C", 600)).toBe(100)
        expect(yield* store.takeDropped("C")).toBe(100)
        const c = yield* store.unread("C", { limit: 1 })
        expect([c.messages[0]!.text, c.remaining]).toEqual(["m100", 499])
        // Every later burst keeps it exact.
        expect(yield* send("C", 130)).toBe(130)
        const all = yield* texts(store, "C")
        expect([all.length, all[0]]).toEqual([500, "m230"])
        expect((yield* store.stats).directMessages).toBe(1000)
      })
    )

    it.scopedLive("each append of a burst reports the queued messages it pushed out, as if appended one by one", () =>
      Effect.gen(function* () {
        const cap = 4
        const burst: ReadonlyArray<AppendDirectInput> = [
          direct("A", "B", "b1"),
          { ...direct("A", "B", "b2"), initialState: "delivered" },
          direct("A", "C", "c1"),
          direct("A", "B", "b3"),
          direct("X", "B", "b4", { clientId: "k" }),
          { ...direct("A", "B", "b5"), initialState: "delivered" },
          direct("A", "B", "b6"),
          direct("A", "B", "b7"),
          direct("A", "B", "b8"),
          direct("A", "B", "b9")
        ]
        const prepare = Effect.gen(function* () {
          const store = yield* kind.open({ mailboxCap: cap })
          const old = yield* store.appendDirectMany([direct("A", "B", "o1"), direct("A", "B", "o2"), direct("A", "B", "o3")])
          yield* store.markDelivered("B", [rights(old)[1]!.message.id])
          return store
        })
        const together = yield* prepare
        const inBurst = yield* together.appendDirectMany(burst)
        const apart = yield* prepare
        const oneByOne: Array<Either.Either<AppendDirectResult, { readonly _tag: string }>> = []
        for (const input of burst) oneByOne.push(yield* Effect.either(apart.appendDirect(input)))

        expect(inBurst.map(outline)).toEqual(oneByOne.map(outline))
        // Pushed out in turn: o1 (queued), o2 (delivered: not counted), o3, b1, b2 (delivered), b3, b4, b5 (delivered).
        expect(rights(inBurst).map((r) => r.evicted)).toEqual([0, 1, 0, 0, 1, 1, 0, 1, 1, 0])
        for (const store of [together, apart]) {
          expect(yield* texts(store, "B")).toEqual(["b6", "b7", "b8", "b9"])
          expect(yield* store.takeDropped("B")).toBe(5)
          expect((yield* store.stats).directMessages).toBe(5)
        }
      })
    )

    it.scopedLive("a retry is a duplicate only while its message is kept, also within one burst", () =>
      Effect.gen(function* () {
        const store = yield* kind.open({ mailboxCap: 2 })
        const old = rights(yield* store.appendDirectMany([direct("S", "B", "old", { clientId: "old" }), direct("A", "B", "x")]))
        const results = rights(
          yield* store.appendDirectMany([
            direct("S", "B", "first", { clientId: "k" }),
            // "old" has just been pushed out by "first": its key no longer deduplicates.
            direct("S", "B", "old again", { clientId: "old" }),
            direct("S", "B", "first retried", { clientId: "k" }),
            direct("A", "B", "y"),
            direct("A", "B", "z"),
            // "first" has been pushed out by "z".
            direct("S", "B", "first retried late", { clientId: "k" })
          ])
        )
        expect(results.map((r) => [r.message.text, r.duplicate, r.evicted])).toEqual([
          ["first", false, 1],
          ["old again", false, 1],
          ["first", true, 0],
          ["y", false, 1],
          ["z", false, 1],
          ["first retried late", false, 1]
        ])
        expect(results[2]!.message.id).toBe(results[0]!.message.id)
        expect(yield* store.getMessage(old[0]!.message.id)).toEqual(Option.none())
        expect(yield* texts(store, "B")).toEqual(["z", "first retried late"])
        expect(yield* store.takeDropped("B")).toBe(5)
      })
    )

    it.scopedLive("StoreFull fails only the appends that would not evict; the others of the burst are stored in order", () =>
      Effect.gen(function* () {
        const store = yield* kind.open({ mailboxCap: 2, maxMessages: 3 })
        rights(yield* store.appendDirectMany([direct("A", "B", "b1"), direct("A", "B", "b2")]))
        const results = yield* store.appendDirectMany([
          direct("A", "C", "c1"),
          direct("A", "D", "d1"),
          direct("A", "B", "b3"),
          direct("A", "C", "c2"),
          direct("A", "B", "b4")
        ])
        expect(results.map((r) => (Either.isRight(r) ? [r.right.message.text, r.right.evicted] : r.left._tag))).toEqual([
          ["c1", 0],
          "StoreFull",
          ["b3", 1],
          "StoreFull",
          ["b4", 1]
        ])
        expect(yield* texts(store, "B")).toEqual(["b3", "b4"])
        expect(yield* texts(store, "C")).toEqual(["c1"])
        expect(yield* texts(store, "D")).toEqual([])
      })
    )

    it.scopedLive("per-recipient counts follow renames and retention", () =>
      Effect.gen(function* () {
        const store = yield* kind.open({ mailboxCap: 3, retention: "1 day" })
        const day = 86_400
        rights(
          yield* store.appendDirectMany([
            direct("A", "old", "o1", { now: at(0) }),
            direct("A", "new", "n1", { now: at(1) }),
            direct("A", "old", "o2", { now: at(2) })
          ])
        )
        yield* store.renamePeer("old", "new")
        // "new" holds 3 now, "old" none.
        const afterRename = rights(
          yield* store.appendDirectMany([direct("A", "old", "x1", { now: at(3) }), direct("A", "new", "n2", { now: at(2 * day) })])
        )
        expect(afterRename.map((r) => r.evicted)).toEqual([0, 1])
        expect(yield* texts(store, "new")).toEqual(["n1", "o2", "n2"])
        // Retention takes n1, o2 and x1: "new" has room for two more before it evicts again.
        expect((yield* store.pruneRetention(at(day + 10))).removed).toBe(3)
        const afterPrune = rights(
          yield* store.appendDirectMany([
            direct("A", "new", "n3", { now: at(2 * day) }),
            direct("A", "new", "n4", { now: at(2 * day) }),
            direct("A", "new", "n5", { now: at(2 * day) })
          ])
        )
        expect(afterPrune.map((r) => r.evicted)).toEqual([0, 0, 1])
        expect(yield* texts(store, "new")).toEqual(["n3", "n4", "n5"])
        expect((yield* store.stats).directMessages).toBe(3)
      })
    )

    it.scopedLive("counts stay right for more recipients than are kept in memory, also within one burst", () =>
      Effect.gen(function* () {
        const store = yield* kind.open({ mailboxCap: 2 })
        const recipients = Array.from({ length: 4200 }, (_, i) => `r${i}`)
        // One burst that names every recipient twice: by the second round the first ones were forgotten.
        const first = rights(
          yield* store.appendDirectMany([1, 2].flatMap((round) => recipients.map((r) => direct("A", r, `${r}-${round}`))))
        )
        expect(first.every((r) => r.evicted === 0)).toBe(true)
        // Each mailbox is full: every third message evicts exactly one. Newest first, so that the
        // counts still in memory (from the end of the burst) are used, not read again.
        const backwards = [...recipients].reverse()
        for (let i = 0; i < backwards.length; i += 256) {
          const results = rights(yield* store.appendDirectMany(backwards.slice(i, i + 256).map((r) => direct("A", r, `${r}-3`))))
          expect(results.every((r) => r.evicted === 1)).toBe(true)
        }
        expect(yield* texts(store, "r0")).toEqual(["r0-2", "r0-3"])
        expect(yield* texts(store, "r4199")).toEqual(["r4199-2", "r4199-3"])
        expect((yield* store.stats).directMessages).toBe(8400)
        expect(yield* store.takeDropped("r17")).toBe(1)
      })
    )

    it.scopedLive("ids of another file, another spelling or garbage name no message", () =>
      Effect.gen(function* () {
        const store = yield* kind.open()
        const [m] = rights(yield* store.appendDirectMany(Array.from({ length: 11 }, (_, i) => direct("A", "B", `m${i}`))))
        const id = m!.message.id
        const [, epoch] = id.split("_")
        const other = epoch === "zzzzzz" ? "yyyyyy" : "zzzzzz"
        const tenth = `m_${epoch}_a`
        for (const bogus of [`m_${other}_1`, `m_${epoch}_01`, `m_${epoch}_0a`, `m_${epoch}_`, `m_${epoch}_-1`, `M_${epoch}_1`, "", "m__1"]) {
          expect(yield* store.getMessage(bogus)).toEqual(Option.none())
          expect(yield* store.markRead("B", [bogus])).toEqual([])
        }
        expect(Option.getOrThrow(yield* store.getMessage(tenth)).text).toBe("m9")
        expect((yield* store.markDelivered("B", [tenth, id])).map((x) => x.text)).toEqual(["m0", "m9"])
        expect((yield* store.requeue("B", [tenth])).map((x) => [x.id, x.state])).toEqual([[tenth, "queued"]])
      })
    )
  })
}

describe("Store bursts and write errors (sqlite file)", () => {
  it.scopedLive("a burst with one write too big for the file: only that one fails; counts and seqs are read again", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = yield* makeSqlite({ path: path.join(dir, "relay.db"), maxDbBytes: 256 * 1024, mailboxCap: 3 })
      const before = rights(yield* store.appendDirectMany([direct("A", "B", "b1"), direct("A", "B", "b2"), direct("A", "C", "c1")]))
      const results = yield* store.appendDirectMany([
        // Had the rolled-back attempt's count of B (3) been kept, this would evict b1 on the retry.
        direct("A", "B", "b3"),
        direct("A", "B", "x".repeat(400 * 1024)),
        direct("A", "C", "c2"),
        direct("A", "B", "b4")
      ])
      expect(results.map((r) => r._tag)).toEqual(["Right", "Left", "Right", "Right"])
      expect(Either.isLeft(results[1]!) ? results[1]!.left : undefined).toMatchObject({ _tag: "StoreError", code: "SQLITE_FULL" })
      const stored = rights([results[0]!, results[2]!, results[3]!])
      expect(stored.map((r) => [r.message.text, r.evicted])).toEqual([
        ["b3", 0],
        ["c2", 0],
        ["b4", 1]
      ])
      // No seq was lost to the rolled-back attempt: the next in memory was read again.
      const last = before[2]!.message.seq
      expect(stored.map((r) => r.message.seq)).toEqual([last + 1, last + 2, last + 3])
      expect(yield* texts(store, "B")).toEqual(["b2", "b3", "b4"])
      expect(yield* store.takeDropped("B")).toBe(1)
      expect(rights(yield* store.appendDirectMany([direct("A", "B", "b5")]))[0]!.evicted).toBe(1)
      expect(yield* texts(store, "B")).toEqual(["b3", "b4", "b5"])
      expect((yield* store.stats).directMessages).toBe(5)
    })
  )
})
