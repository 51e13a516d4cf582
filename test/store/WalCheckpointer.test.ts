import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { SqliteConnection } from "../../src/store/SqliteDriver.ts"
import { makeSqlite } from "../../src/store/SqliteStore.ts"
import { makeWalCheckpointer, type WalCheckpointerOptions } from "../../src/store/WalCheckpointer.ts"
import { direct, tempDir, walDatabase } from "./helpers.ts"

const autocheckpoint = (conn: SqliteConnection) =>
  Object.values(conn.prepare("PRAGMA wal_autocheckpoint").get<Record<string, number>>()!)[0]

/** The WAL header's checkpoint sequence: SQLite increments it each time the WAL restarts from its start. */
const walRestarts = (file: string) => {
  const header = Buffer.alloc(16)
  const fd = fs.openSync(`${file}-wal`, "r")
  try {
    fs.readSync(fd, header, 0, 16, 0)
  } finally {
    fs.closeSync(fd)
  }
  return header.readUInt32BE(12)
}

/** One write transaction of several pages, as the store's writer runs them. */
const writeSome = (conn: SqliteConnection, i: number) => {
  conn.exec("BEGIN IMMEDIATE")
  conn.prepare("INSERT INTO t (k, v) VALUES (?, ?)").run(i, Buffer.alloc(16 * 1024, i % 251))
  conn.prepare("DELETE FROM t WHERE k = ?").run(i - 8)
  conn.exec("COMMIT")
}

/** Repeats `step` until `done` (up to `limit` times, sleeping between rounds so the worker can run). */
const until = (done: () => boolean, step: () => void, limit = 5_000) =>
  Effect.gen(function* () {
    for (let i = 0; i < limit && !done(); i++) {
      step()
      if (i % 16 === 15) yield* Effect.sleep("1 millis")
    }
  })

const options = (file: string, conn: SqliteConnection, extra: Partial<WalCheckpointerOptions> = {}): WalCheckpointerOptions => ({
  conn,
  path: file,
  driver: "better-sqlite3",
  pragmas: ["PRAGMA synchronous = NORMAL", "PRAGMA busy_timeout = 5000"],
  intervalMs: 5,
  ...extra
})

describe("WalCheckpointer (better-sqlite3 in a worker thread)", () => {
  it.scopedLive("copies the WAL back from its own thread while the writer's automatic checkpoint is off", () =>
    Effect.gen(function* () {
      const { file, conn } = yield* walDatabase("wal.db")
      const checkpointer = yield* makeWalCheckpointer(options(file, conn, { batchesPerCheckpoint: 50 }))
      expect(autocheckpoint(conn)).toBe(0)
      const before = fs.statSync(file).size
      // 250+ pages, all in the WAL: this connection does not checkpoint.
      for (let i = 0; i < 50; i++) {
        Effect.runSync(checkpointer.beforeBatch)
        writeSome(conn, i)
      }
      const copied = () => checkpointer.checkpoints() > 0 && fs.statSync(file).size > before
      // The worker's next rounds; given up to 5 s on a loaded machine.
      for (let i = 0; i < 500 && !copied(); i++) yield* Effect.sleep("10 millis")
      expect(checkpointer.checkpoints()).toBeGreaterThan(0)
      expect(fs.statSync(file).size).toBeGreaterThan(before)
      expect(checkpointer.running()).toBe(true)
    })
  )

  it.scopedLive("under sustained writes the writer waits for a full checkpoint once the WAL is long, so it restarts", () =>
    Effect.gen(function* () {
      const { file, conn } = yield* walDatabase("wal.db")
      const checkpointer = yield* makeWalCheckpointer(options(file, conn, { catchUpFrames: 64 }))
      let i = 0
      // The writer never idles (no pause between its transactions but the batch hook).
      yield* Effect.gen(function* () {
        while (checkpointer.catchUps() < 3 && i < 20_000) {
          yield* checkpointer.beforeBatch
          writeSome(conn, i++)
        }
      })
      expect(checkpointer.catchUps()).toBe(3)
      // One more write after the last catch-up: it starts the WAL over.
      yield* checkpointer.beforeBatch
      writeSome(conn, i++)
      expect(walRestarts(file)).toBeGreaterThanOrEqual(3)
      expect(autocheckpoint(conn)).toBe(0)
      expect(conn.prepare("SELECT COUNT(*) AS n FROM t").get()).toEqual({ n: 8 })
    })
  )

  it.scopedLive("a worker that cannot open the database hands checkpoints back to the writer", () =>
    Effect.gen(function* () {
      const { file, conn } = yield* walDatabase("wal.db")
      const checkpointer = yield* makeWalCheckpointer(options(path.join(path.dirname(file), "missing.db"), conn))
      yield* until(() => !checkpointer.running(), () => Effect.runSync(checkpointer.beforeBatch), 2_000)
      expect(checkpointer.running()).toBe(false)
      expect(autocheckpoint(conn)).toBe(1000)
      // The writer's own checkpoint keeps the WAL short again.
      for (let i = 0; i < 400; i++) writeSome(conn, i)
      expect(walRestarts(file)).toBeGreaterThan(0)
    })
  )

  it.scopedLive("a trickle of commits is not checkpointed one by one, so the writer does not restart the WAL (and fsync) for each", () =>
    Effect.gen(function* () {
      const { file, conn } = yield* walDatabase("wal.db")
      const checkpointer = yield* makeWalCheckpointer(options(file, conn, { batchesPerCheckpoint: 40 }))
      // Far apart, as sessions send: the worker looks every few ms and finds little each time.
      for (let i = 0; i < 30; i++) {
        yield* checkpointer.beforeBatch
        writeSome(conn, i)
        yield* Effect.sleep("15 millis")
      }
      expect(checkpointer.checkpoints()).toBe(0)
      expect(walRestarts(file)).toBe(0)
      // The 40th batch since the start brings one checkpoint; the next write restarts the WAL once.
      for (let i = 30; i < 40; i++) {
        yield* checkpointer.beforeBatch
        writeSome(conn, i)
      }
      for (let i = 0; i < 500 && checkpointer.checkpoints() === 0; i++) yield* Effect.sleep("10 millis")
      expect(checkpointer.checkpoints()).toBe(1)
      yield* checkpointer.beforeBatch
      writeSome(conn, 40)
      expect(walRestarts(file)).toBe(1)
    })
  )

  it.scopedLive("a few batches that grow the WAL a lot are checkpointed without waiting for the batch count", () =>
    Effect.gen(function* () {
      const { file, conn } = yield* walDatabase("wal.db")
      const checkpointer = yield* makeWalCheckpointer(options(file, conn, { batchesPerCheckpoint: 10_000, growthBytes: 512 * 1024 }))
      // One batch of ~1 MiB of pages, then the writer idles.
      yield* checkpointer.beforeBatch
      conn.exec("BEGIN IMMEDIATE")
      for (let i = 0; i < 64; i++) conn.prepare("INSERT INTO t (k, v) VALUES (?, ?)").run(i, Buffer.alloc(16 * 1024, i))
      conn.exec("COMMIT")
      for (let i = 0; i < 500 && checkpointer.checkpoints() === 0; i++) yield* Effect.sleep("10 millis")
      expect(checkpointer.checkpoints()).toBe(1)
    })
  )

  it.scopedLive("a file store copies its WAL back while open, from the worker", () =>
    Effect.gen(function* () {
      const file = path.join(yield* tempDir, "relay.db")
      const store = yield* makeSqlite({ path: file, synchronous: "normal" })
      const before = fs.statSync(file).size
      // 300 commits: past the worker's 256 batches (the writer's own checkpoint is off).
      for (let i = 0; i < 300; i++) yield* store.appendDirectMany([direct("A", `B${i % 4}`, `m${i} `.repeat(10))])
      // The worker's next round; given up to 5 s on a loaded machine.
      for (let i = 0; i < 500 && fs.statSync(file).size <= before; i++) yield* Effect.sleep("10 millis")
      expect(fs.statSync(file).size).toBeGreaterThan(before)
      expect((yield* store.unread("B0", { limit: 1000 })).messages).toHaveLength(75)
    })
  )
})
