import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { openSqlite } from "../../src/store/SqliteDriver.ts"
import { makeSqlite, type SqliteStoreOptions } from "../../src/store/SqliteStore.ts"

/** A fresh directory removed with the scope. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "relay-store-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** A WAL database (better-sqlite3) with one table `t (k, v)`, its connection closed with the scope. */
export const walDatabase = (name: string) =>
  Effect.gen(function* () {
    const file = path.join(yield* tempDir, name)
    const conn = yield* Effect.acquireRelease(
      Effect.promise(() => openSqlite(file, "better-sqlite3")),
      (c) => Effect.sync(() => c.close())
    )
    conn.exec("PRAGMA journal_mode = WAL")
    conn.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
    return { file, conn }
  })

type Options = Partial<Omit<SqliteStoreOptions, "path">>

/** The two ways to get a store; suites that do not need a file run against both. */
export const kinds = [
  { name: "memory", open: (options: Options = {}) => makeSqlite({ ...options, path: ":memory:" }) },
  {
    name: "sqlite file",
    open: (options: Options = {}) =>
      Effect.flatMap(tempDir, (dir) => makeSqlite({ ...options, path: path.join(dir, "relay.db") }))
  }
] as const

const base = Date.UTC(2025, 0, 1)
/** A fixed instant `seconds` after 2025-01-01. */
export const at = (seconds: number) => new Date(base + seconds * 1000)

export const direct = (from: string, to: string, text: string, extra: { clientId?: string; now?: Date; urgent?: boolean } = {}) => ({
  from,
  to,
  text,
  replyTo: null,
  urgent: extra.urgent ?? false,
  clientId: extra.clientId,
  now: extra.now ?? at(0)
})
