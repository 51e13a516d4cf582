import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Fiber, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeGroupCommit } from "../../src/store/GroupCommit.ts"
import { makeSqlite } from "../../src/store/SqliteStore.ts"
import { StoreError } from "../../src/store/Store.ts"
import { makeWalSync } from "../../src/store/WalSync.ts"
import { direct, tempDir, walDatabase } from "./helpers.ts"

/**
 * An fsync the test completes by hand: `release` runs the real `fs.fsync` of every held call (or
 * fails them), so a test can look at the world while the disk "works".
 */
const heldFsync = () => {
  const held: Array<{ fd: number; done: (error: Error | null) => void }> = []
  let holding = true
  return {
    fsync: (fd: number, done: (error: Error | null) => void) => (holding ? void held.push({ fd, done }) : fs.fsync(fd, done)),
    /** From now on every fsync runs at once (for the writer's last commit when its scope closes). */
    stopHolding: () => {
      holding = false
      for (const { done, fd } of held.splice(0)) fs.fsync(fd, done)
    },
    held: () => held.length,
    release: (error?: Error) => {
      for (const { done, fd } of held.splice(0)) {
        if (error !== undefined) done(error)
        else fs.fsync(fd, done)
      }
    }
  }
}

/** Lets callbacks of released fsyncs (thread pool) and the fibers they resume run. */
const settle = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))

/** A WAL database with one table and a writer whose commits are synced by a held fsync. */
const heldWriter = Effect.gen(function* () {
  const { file, conn } = yield* walDatabase("sync.db")
  conn.exec("PRAGMA synchronous = NORMAL")
  const disk = heldFsync()
  const writer = yield* makeGroupCommit({
    conn,
    path: file,
    capacity: 64,
    maxBatch: 16,
    isExpected: () => false,
    afterRollback: () => {},
    walSync: (commits) => makeWalSync({ walPath: `${file}-wal`, commits, fsync: disk.fsync })
  })
  // Runs before the writer's own finalizer, whose last commit must be synced to finish.
  yield* Effect.addFinalizer(() => Effect.sync(disk.stopHolding))
  const insert = (v: string) => () => conn.prepare("INSERT INTO t (v) VALUES (?)").run(v)
  const rows = () => conn.prepare("SELECT v FROM t ORDER BY k").all<{ v: string }>().map((r) => r.v)
  return { writer, disk, insert, rows }
})

describe("WalSync", () => {
  it.scopedLive("a commit is durable only after a sync that began after it; commits made meanwhile share the next one", () =>
    Effect.gen(function* () {
      const wal = path.join(yield* tempDir, "x.db-wal")
      fs.writeFileSync(wal, "frames")
      let commits = 0
      const disk = heldFsync()
      const sync = makeWalSync({ walPath: wal, commits: () => commits, fsync: disk.fsync })
      const answered: Array<string> = []
      const commit = () => {
        const n = ++commits
        sync.whenDurable(n, (e) => answered.push(`${n}:${e === undefined ? "ok" : e.message}`))
      }
      commit()
      expect(disk.held()).toBe(1)
      commit()
      commit()
      // One sync at a time: commits 2 and 3 came after the running one began, so they wait.
      expect(disk.held()).toBe(1)
      expect(sync.caughtUp()).toBe(false)
      disk.release()
      yield* settle
      expect(answered).toEqual(["1:ok"])
      expect(disk.held()).toBe(1)
      disk.release(new Error("EIO"))
      yield* settle
      expect(answered).toEqual(["1:ok", "2:EIO", "3:EIO"])
      // A failed sync leaves them not durable: a later wait syncs again.
      expect(sync.caughtUp()).toBe(false)
      sync.whenDurable(commits, (e) => answered.push(`again:${e === undefined ? "ok" : e.message}`))
      disk.release()
      yield* settle
      expect(answered.at(-1)).toBe("again:ok")
      expect(sync.caughtUp()).toBe(true)
      expect(sync.syncs()).toBe(3)
      // Already durable: answered at once, no sync.
      sync.whenDurable(commits, () => answered.push("at once"))
      expect(answered.at(-1)).toBe("at once")
      expect(sync.syncs()).toBe(3)
      sync.close()
    })
  )
})

describe("WalSync under the writer (a real SQLite file)", () => {
  it.scopedLive("a write is answered only once its commit is synced, and a read that saw it waits too", () =>
    Effect.gen(function* () {
      const { disk, insert, rows, writer } = yield* heldWriter
      const write = yield* Effect.fork(writer.write(insert("a")))
      yield* settle
      // Committed (another reader would see it), but not answered: the sync is held.
      expect(rows()).toEqual(["a"])
      expect(disk.held()).toBe(1)
      expect(Option.isNone(yield* Fiber.poll(write))).toBe(true)
      const read = yield* Effect.fork(writer.read(rows))
      yield* settle
      expect(Option.isNone(yield* Fiber.poll(read))).toBe(true)
      disk.release()
      yield* settle
      expect(yield* Fiber.join(write)).toBeDefined()
      expect(yield* Fiber.join(read)).toEqual(["a"])
      // Nothing pending: the next read answers at once, without a sync.
      expect(yield* writer.read(rows)).toEqual(["a"])
      expect(disk.held()).toBe(0)
      expect(writer.walSync?.syncs()).toBe(1)
    })
  )

  it.scopedLive("commits made while a sync runs are covered by one more sync, not one each", () =>
    Effect.gen(function* () {
      const { disk, insert, writer } = yield* heldWriter
      const first = yield* Effect.fork(writer.write(insert("first")))
      yield* settle
      expect(disk.held()).toBe(1)
      const more = yield* Effect.fork(Effect.all([1, 2, 3, 4, 5].map((i) => writer.write(insert(`m${i}`))), { concurrency: "unbounded" }))
      yield* settle
      // The writer went on committing while the first sync was held.
      expect(writer.commits()).toBeGreaterThan(1)
      expect(disk.held()).toBe(1)
      disk.release()
      yield* settle
      yield* Fiber.join(first)
      expect(disk.held()).toBe(1)
      expect(Option.isNone(yield* Fiber.poll(more))).toBe(true)
      disk.release()
      yield* settle
      expect(yield* Fiber.join(more)).toHaveLength(5)
      expect(writer.walSync?.syncs()).toBe(2)
    })
  )

  it.scopedLive("a failed sync fails the writes it covered with a StoreError that says what to do; the next sync retries", () =>
    Effect.gen(function* () {
      const { disk, insert, writer } = yield* heldWriter
      const single = yield* Effect.fork(writer.write(insert("lost?")))
      const burst = yield* Effect.fork(
        writer.writeMany(["x", "refused", "y"], (inputs) =>
          inputs.map((v) => (v === "refused" ? Either.left("refused" as const) : Either.right(insert(v)())))
        )
      )
      yield* settle
      // The two writes may have been one commit or two (two syncs): fail whatever is held, twice.
      const eio = Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" })
      for (const _ of [1, 2]) {
        disk.release(eio)
        yield* settle
      }
      const failed = yield* Fiber.await(single)
      expect(Exit.isFailure(failed)).toBe(true)
      if (Exit.isFailure(failed)) {
        const error = failed.cause._tag === "Fail" ? failed.cause.error : undefined
        expect(error).toBeInstanceOf(StoreError)
        expect((error as StoreError).message).toMatch(/could not sync its log to disk \(EIO.*check the disk, then retry/)
      }
      const results = yield* Fiber.join(burst)
      // Stored-and-unsynced inputs fail; the one refused for its own reason keeps that reason.
      expect(results.map((r) => (Either.isLeft(r) ? (r.left instanceof StoreError ? "unsynced" : r.left) : "ok"))).toEqual([
        "unsynced",
        "refused",
        "unsynced"
      ])
      const next = yield* Effect.fork(writer.write(insert("after")))
      yield* settle
      disk.release()
      yield* settle
      expect(Exit.isSuccess(yield* Fiber.await(next))).toBe(true)
    })
  )

  it.scopedLive("the writer's scope closes only once its last commit is synced", () =>
    Effect.gen(function* () {
      const closed = yield* Effect.scoped(
        Effect.gen(function* () {
          const { disk, insert, writer } = yield* heldWriter
          yield* Effect.fork(writer.write(insert("last")))
          yield* settle
          expect(disk.held()).toBe(1)
          return writer
        })
      )
      expect(closed.walSync?.caughtUp()).toBe(true)
    })
  )
})

describe("the store's fsync (a real SQLite file)", () => {
  it.scopedLive("by default on Linux the WAL is fsynced after commits, off the event loop", () =>
    Effect.gen(function* () {
      const store = yield* makeSqlite({ path: path.join(yield* tempDir, "relay.db") })
      yield* Effect.all(Array.from({ length: 20 }, (_, i) => store.appendDirect(direct("A", "B", `m${i}`))), { concurrency: "unbounded" })
      const stats = yield* store.stats
      expect(stats.fsync).toBe(process.platform === "linux" ? "after-commit" : "in-commit")
      if (process.platform === "linux") {
        expect(stats.walSyncs).toBeGreaterThan(0)
        expect(stats.walSyncs).toBeLessThanOrEqual(stats.commits)
      }
    })
  )

  it.scopedLive("walSync 'commit' leaves the fsync to SQLite; synchronous 'normal' has none per commit", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const inCommit = yield* makeSqlite({ path: path.join(dir, "a.db"), walSync: "commit" })
      yield* inCommit.appendDirect(direct("A", "B", "x"))
      expect(yield* inCommit.stats).toMatchObject({ fsync: "in-commit", walSyncs: 0 })
      const normal = yield* makeSqlite({ path: path.join(dir, "b.db"), synchronous: "normal" })
      yield* normal.appendDirect(direct("A", "B", "x"))
      expect(yield* normal.stats).toMatchObject({ fsync: "at-checkpoint", walSyncs: 0 })
    })
  )
})
