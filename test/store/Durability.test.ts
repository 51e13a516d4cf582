import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Deferred, Effect, Exit, Fiber, Option, Scope } from "effect"
import * as path from "node:path"
import { makeSqlite } from "../../src/store/SqliteStore.ts"
import { at, direct, tempDir } from "./helpers.ts"

const dbIn = (dir: string) => path.join(dir, "relay.db")

describe("Store durability (sqlite file)", () => {
  it.scopedLive("A6: a retried send with the same client id is stored once, also after a reopen", () =>
    Effect.gen(function* () {
      const db = dbIn(yield* tempDir)
      const first = yield* Effect.scoped(
        Effect.flatMap(makeSqlite({ path: db }), (s) => s.appendDirect(direct("A", "B", "once", { clientId: "c-1" })))
      )
      const store = yield* makeSqlite({ path: db })
      const retry = yield* store.appendDirect(direct("A", "B", "once", { clientId: "c-1" }))
      expect(retry.duplicate).toBe(true)
      expect(retry.message).toEqual(first.message)
      const next = yield* store.appendDirect(direct("A", "B", "next"))
      expect(next.message.seq).toBeGreaterThan(first.message.seq)
      expect((yield* store.unread("B", { limit: 10 })).messages.map((m) => m.text)).toEqual(["once", "next"])
    })
  )

  it.scopedLive("ids are never reused after a reopen, even once the newest message is gone", () =>
    Effect.gen(function* () {
      const db = dbIn(yield* tempDir)
      const gone = yield* Effect.scoped(
        Effect.gen(function* () {
          const store = yield* makeSqlite({ path: db })
          const m = yield* store.appendDirect(direct("A", "B", "old", { now: at(0) }))
          yield* store.pruneRetention(new Date(at(0).getTime() + 40 * 86_400_000))
          return m.message
        })
      )
      const store = yield* makeSqlite({ path: db })
      const fresh = yield* store.appendDirect(direct("A", "B", "new"))
      expect(fresh.message.id).not.toBe(gone.id)
      expect(fresh.message.seq).toBeGreaterThan(gone.seq)
    })
  )

  it.scopedLive("groups, members, cursors, dropped counters and delivery states survive a reopen", () =>
    Effect.gen(function* () {
      const db = dbIn(yield* tempDir)
      const ids = yield* Effect.scoped(
        Effect.gen(function* () {
          const store = yield* makeSqlite({ path: db, mailboxCap: 2 })
          const a = yield* store.appendDirect(direct("A", "B", "1"))
          yield* store.appendDirect(direct("A", "B", "2"))
          yield* store.appendDirect(direct("A", "B", "3"))
          const d = yield* store.appendDirect(direct("A", "C", "to C"))
          yield* store.markRead("C", [d.message.id])
          yield* store.createGroup({ name: "g", admin: "A", members: ["B"], now: at(0) })
          yield* store.appendGroupMessage({ group: "g", from: "A", text: "x", kind: "message", now: at(0) })
          yield* store.appendGroupMessage({ group: "g", from: "A", text: "y", kind: "message", now: at(0) })
          yield* store.groupHistory("g", "B", { limit: 1 })
          return { evicted: a.message.id, read: d.message.id }
        })
      )
      const store = yield* makeSqlite({ path: db, mailboxCap: 2 })
      expect(yield* store.takeDropped("B")).toBe(1)
      expect(Option.getOrThrow(yield* store.getMessage(ids.read)).state).toBe("read")
      expect(Option.getOrThrow(yield* store.getGroup("g")).members.map((m) => [m.name, m.cursor])).toEqual([
        ["A", 2],
        ["B", 1]
      ])
      expect((yield* store.groupHistory("g", "B")).messages.map((m) => m.text)).toEqual(["y"])
    })
  )

  it.scopedLive("group commit: concurrent writes share transactions and every one is committed", () =>
    Effect.gen(function* () {
      const db = dbIn(yield* tempDir)
      const store = yield* makeSqlite({ path: db })
      const before = (yield* store.stats).commits
      const results = yield* Effect.all(
        Array.from({ length: 200 }, (_, i) => store.appendDirect(direct("A", "B", `m${i}`))),
        { concurrency: "unbounded" }
      )
      const commits = (yield* store.stats).commits - before
      expect(commits).toBeGreaterThan(0)
      expect(commits).toBeLessThan(200)
      expect(new Set(results.map((r) => r.message.id)).size).toBe(200)
      // Read through a second connection: what was acknowledged is committed, not just cached.
      const other = new Database(db, { readonly: true })
      try {
        expect(other.prepare("SELECT COUNT(*) AS n FROM direct_messages").get()).toEqual({ n: 200 })
      } finally {
        other.close()
      }
    })
  )

  it.scopedLive("closing the store drains pending writes: the stored set is exactly the acknowledged set", () =>
    Effect.gen(function* () {
      const db = dbIn(yield* tempDir)
      const scope = yield* Scope.make()
      const store = yield* Scope.extend(makeSqlite({ path: db, maxBatch: 8 }), scope)
      const firstAck = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        Effect.all(
          Array.from({ length: 100 }, (_, i) =>
            Effect.exit(store.appendDirect(direct("A", "B", `m${i}`)).pipe(Effect.tap(() => Deferred.succeed(firstAck, undefined))))
          ),
          { concurrency: "unbounded" }
        )
      )
      yield* Deferred.await(firstAck)
      yield* Scope.close(scope, Exit.void)
      const exits = yield* Fiber.join(fiber)
      const acked = exits.filter(Exit.isSuccess).map((e) => e.value.message.id)
      for (const exit of exits.filter(Exit.isFailure)) expect(JSON.stringify(exit.cause)).toContain("closed")
      expect((yield* Effect.flip(store.unread("B", { limit: 1 })))._tag).toBe("StoreError")

      const reopened = yield* makeSqlite({ path: db })
      const stored = (yield* reopened.unread("B", { limit: 500 })).messages.map((m) => m.id)
      expect(stored.sort()).toEqual([...acked].sort())
      expect(acked.length).toBeGreaterThan(0)
    })
  )
})
