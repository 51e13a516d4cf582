import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { migrations } from "../../src/store/Migrations.ts"
import { makeSqlite } from "../../src/store/SqliteStore.ts"
import { at, direct, tempDir } from "./helpers.ts"

const dbIn = (dir: string) => path.join(dir, "relay.db")
const corruptCopies = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith("relay.db.corrupt-"))

describe("Store recovery and write errors (sqlite file)", () => {
  it.scopedLive("A3: a file that is not a database is kept aside, reported, and a fresh store starts", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const db = dbIn(dir)
      const garbage = Buffer.from("this is not a database\n".repeat(500))
      fs.writeFileSync(db, garbage)
      const store = yield* makeSqlite({ path: db })
      const notice = Option.getOrThrow(yield* store.recoveryNotice)
      const kept = corruptCopies(dir)
      expect(kept).toHaveLength(1)
      expect(notice).toContain(path.join(dir, kept[0]!))
      expect(fs.readFileSync(path.join(dir, kept[0]!))).toEqual(garbage)
      // The fresh store works.
      const m = yield* store.appendDirect(direct("A", "B", "after recovery"))
      expect(Option.isSome(yield* store.getMessage(m.message.id))).toBe(true)
    })
  )

  it.scopedLive("A3: a database with damaged pages fails quick_check and is kept aside with its WAL", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const db = dbIn(dir)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const store = yield* makeSqlite({ path: db })
          yield* Effect.all(
            Array.from({ length: 200 }, (_, i) => store.appendDirect(direct("A", `peer${i % 7}`, `message ${i} `.repeat(20)))),
            { concurrency: 16 }
          )
        })
      )
      const bytes = fs.readFileSync(db)
      const pageSize = bytes.readUInt16BE(16)
      expect(bytes.length).toBeGreaterThan(pageSize * 8)
      // Overwrite pages 3.. with noise, leaving the header and schema page intact.
      for (let i = pageSize * 2; i < bytes.length - pageSize; i++) bytes[i] = (i * 7919) & 0xff
      fs.writeFileSync(db, bytes)
      fs.writeFileSync(`${db}-wal`, "")

      const store = yield* makeSqlite({ path: db })
      const notice = Option.getOrThrow(yield* store.recoveryNotice)
      expect(notice).toMatch(/corrupt/)
      const kept = corruptCopies(dir)
      expect(kept.filter((f) => !f.endsWith("-wal") && !f.endsWith("-shm"))).toHaveLength(1)
      const keptDb = kept.find((f) => !f.endsWith("-wal") && !f.endsWith("-shm"))!
      expect(fs.readFileSync(path.join(dir, keptDb))).toEqual(bytes)
      expect(kept).toContain(`${keptDb}-wal`)
      expect((yield* store.stats).directMessages).toBe(0)
      yield* store.appendDirect(direct("A", "B", "fresh"))
    })
  )

  it.scopedLive("A2: a torn WAL tail loses only the transaction it tore; committed data is recovered", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const db = dbIn(dir)
      const snapshot = path.join(dir, "snap")
      fs.mkdirSync(snapshot)
      const copy = dbIn(snapshot)
      const ids = yield* Effect.scoped(
        Effect.gen(function* () {
          // A torn tail is a tail never synced, so never checkpointed: no checkpoint may run here.
          const store = yield* makeSqlite({ path: db, walCheckpoint: "writer" })
          const ids: Array<string> = []
          // One transaction each (each waits for its commit before the next starts).
          for (let i = 0; i < 6; i++) ids.push((yield* store.appendDirect(direct("A", "B", `m${i}`))).message.id)
          // What a crash would leave on disk: the main file and the WAL, not yet checkpointed.
          fs.copyFileSync(db, copy)
          fs.copyFileSync(`${db}-wal`, `${copy}-wal`)
          return ids
        })
      )
      const wal = fs.statSync(`${copy}-wal`).size
      expect(wal).toBeGreaterThan(4096)
      fs.truncateSync(`${copy}-wal`, wal - 100)

      const store = yield* makeSqlite({ path: copy })
      expect(yield* store.recoveryNotice).toEqual(Option.none())
      const texts = (yield* store.unread("B", { limit: 10 })).messages.map((m) => m.text)
      expect(texts).toEqual(["m0", "m1", "m2", "m3", "m4"])
      expect(yield* store.getMessage(ids[5]!)).toEqual(Option.none())
      // The store goes on from there.
      yield* store.appendDirect(direct("A", "B", "after"))
      expect((yield* store.unread("B", { limit: 10 })).messages).toHaveLength(6)
    })
  )

  it.scopedLive("A9: SQLITE_FULL fails only the write that does not fit; other writes, before and after, succeed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = yield* makeSqlite({ path: dbIn(dir), maxDbBytes: 256 * 1024, retention: "1 day" })
      const kept = yield* store.appendDirect(direct("A", "B", "kept", { now: at(0) }))

      // A batch with one write too big for the file: it fails with SQLITE_FULL, its neighbours commit.
      const results = yield* Effect.all(
        [
          Effect.either(store.appendDirect(direct("A", "B", "small 1", { now: at(0) }))),
          Effect.either(store.appendDirect(direct("A", "B", "x".repeat(400 * 1024), { now: at(0) }))),
          Effect.either(store.appendDirect(direct("A", "B", "small 2", { now: at(0) })))
        ],
        { concurrency: "unbounded" }
      )
      expect(results.map((r) => r._tag)).toEqual(["Right", "Left", "Right"])
      const error = results[1]!._tag === "Left" ? results[1]!.left : undefined
      expect(error?._tag).toBe("StoreError")
      expect(error).toMatchObject({ code: "SQLITE_FULL" })
      expect(error?.message).toMatch(/full/)

      // Fill the file with old messages until it refuses.
      let failure: unknown
      for (let i = 0; i < 100 && failure === undefined; i++) {
        const r = yield* Effect.either(store.appendDirect(direct("A", `C${i}`, "y".repeat(20 * 1024), { now: at(0) })))
        if (r._tag === "Left") failure = r.left
      }
      expect(failure).toMatchObject({ _tag: "StoreError", code: "SQLITE_FULL" })
      // Writes that need no new page still work; so do reads.
      expect((yield* store.markDelivered("B", [kept.message.id])).map((m) => m.state)).toEqual(["delivered"])
      expect((yield* store.unread("B", { limit: 10 })).messages.map((m) => m.text)).toEqual(["small 1", "small 2"])
      // Space freed by retention is reused.
      expect((yield* store.pruneRetention(at(3 * 86_400))).removed).toBeGreaterThan(0)
      const after = yield* store.appendDirect(direct("A", "B", "z".repeat(20 * 1024), { now: at(3 * 86_400) }))
      expect(after.duplicate).toBe(false)
    })
  )

  it.scopedLive("E1: the database, its WAL and shared-memory files are 0600 even with a permissive umask", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const db = dbIn(dir)
      const previous = process.umask(0)
      const store = yield* makeSqlite({ path: db }).pipe(Effect.ensuring(Effect.sync(() => process.umask(previous))))
      yield* store.appendDirect(direct("A", "B", "hi"))
      for (const file of [db, `${db}-wal`, `${db}-shm`]) {
        expect({ file, mode: fs.statSync(file).mode & 0o777 }).toEqual({ file, mode: 0o600 })
      }
    })
  )

  it.scopedLive("a missing data directory is a StoreError that says what to do", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const error = yield* Effect.flip(makeSqlite({ path: path.join(dir, "missing", "relay.db") }))
      expect(error._tag).toBe("StoreError")
      expect(error.message).toContain(path.join(dir, "missing"))
      expect(error.message).toMatch(/create it/)
    })
  )

  it.scopedLive("the schema is versioned, WAL mode is on and foreign keys cascade group deletes", () =>
    Effect.gen(function* () {
      const db = dbIn(yield* tempDir)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const store = yield* makeSqlite({ path: db })
          yield* store.createGroup({ name: "g", admin: "A", members: ["B"], now: at(0) })
          yield* store.appendGroupMessage({ group: "g", from: "A", text: "x", kind: "message", now: at(0) })
          yield* store.deleteGroup("g")
        })
      )
      const raw = new Database(db, { readonly: true })
      try {
        // One row per migration, in order.
        expect(raw.prepare("SELECT version FROM schema_version").all()).toEqual(migrations.map((_, i) => ({ version: i + 1 })))
        expect(migrations.length).toBeGreaterThanOrEqual(2)
        expect(raw.pragma("journal_mode", { simple: true })).toBe("wal")
        expect(raw.prepare("SELECT COUNT(*) AS n FROM group_members").get()).toEqual({ n: 0 })
        expect(raw.prepare("SELECT COUNT(*) AS n FROM group_messages").get()).toEqual({ n: 0 })
      } finally {
        raw.close()
      }
      // A store written by a newer relay is refused, not rewritten.
      const newer = new Database(db)
      newer.prepare("INSERT INTO schema_version (version, applied_at) VALUES (99, 'later')").run()
      newer.close()
      const error = yield* Effect.flip(makeSqlite({ path: db }))
      expect(error.message).toMatch(/newer/)
    })
  )
})
