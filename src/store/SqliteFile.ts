/**
 * Opening the store's SQLite file safely: a file that is not a database or fails `quick_check` is
 * moved aside (with its WAL) and a fresh one started; then pragmas, migrations and file modes.
 */
import { Effect, Option, type Scope } from "effect"
import * as fs from "node:fs"
import * as nodePath from "node:path"
import { randomEpoch } from "./MessageIds.ts"
import { migrations } from "./Migrations.ts"
import { openSqlite, sqliteErrorCode, type SqliteConnection, type SqliteDriverName } from "./SqliteDriver.ts"
import { StoreError } from "./Store.ts"

export interface SqliteFileOptions {
  readonly path: string
  readonly synchronous?: "full" | "normal" | undefined
  readonly maxDbBytes?: number | undefined
  readonly driver?: SqliteDriverName | undefined
}

/** An open, migrated store file. */
export interface SqliteFile {
  readonly conn: SqliteConnection
  /** The random per-file epoch that makes message ids unique across store files. */
  readonly epoch: string
  /** `Some(text)` when the file was found corrupt and kept aside. */
  readonly notice: Option.Option<string>
}

/** What the user can do, by SQLite result code. */
export const storeErrorFrom = (error: unknown, path: string): StoreError => {
  if (error instanceof StoreError) return error
  const code = sqliteErrorCode(error)
  const detail = error instanceof Error ? error.message : String(error)
  const message = (() => {
    switch (code) {
      case "SQLITE_FULL":
        return `the message store is full (disk full or its size limit reached) at ${path}; nothing was stored: free disk space and retry`
      case "SQLITE_READONLY":
      case "SQLITE_CANTOPEN":
      case "SQLITE_PERM":
      case "SQLITE_AUTH":
        return `the message store at ${path} cannot be written (${detail}): check the permissions of the file and its directory`
      case "SQLITE_BUSY":
      case "SQLITE_LOCKED":
        return `the message store at ${path} is locked by another process (${detail}): stop it or retry`
      case "SQLITE_CORRUPT":
      case "SQLITE_NOTADB":
        return `the message store at ${path} is damaged (${detail}): restart the hub, which keeps the bad file aside and starts a fresh one; run relay doctor`
      default:
        return `the message store at ${path} failed (${detail}): check the disk and run relay doctor`
    }
  })()
  return new StoreError({ message, code, cause: error })
}

const fileStamp = (ms: number) => new Date(ms).toISOString().replace(/[:.]/g, "-")

const closeQuietly = (conn: SqliteConnection) => {
  try {
    conn.close()
  } catch {
    // Callers say why a failed close does not matter to them.
  }
}

/** Opens the file, moving a corrupt one aside; returns the connection and what was kept where. */
const openChecked = (path: string, driver: SqliteDriverName | undefined) =>
  Effect.gen(function* () {
    const open = (p: string) =>
      Effect.tryPromise({ try: () => openSqlite(p, driver), catch: (e) => storeErrorFrom(e, p) })
    if (path === ":memory:") return { conn: yield* open(path), notice: Option.none<string>() }

    const dir = nodePath.dirname(path)
    if (!fs.existsSync(dir)) {
      return yield* new StoreError({
        message: `the data directory ${dir} does not exist: create it (mode 0700) or start the hub, which does`
      })
    }
    const touch = Effect.try({
      try: () => {
        if (!fs.existsSync(path)) fs.closeSync(fs.openSync(path, "wx", 0o600))
      },
      catch: (e) => new StoreError({ message: `cannot create the message store ${path} (${String(e)}): check the directory's permissions`, cause: e })
    })
    yield* touch

    /** `Some(reason)` if the file is not a database or fails `quick_check`. */
    const check = (conn: SqliteConnection): Option.Option<string> | StoreError => {
      try {
        const rows = conn.prepare("PRAGMA quick_check").all<{ quick_check: string }>()
        const results = rows.map((r) => String(Object.values(r)[0]))
        return results.length === 1 && results[0] === "ok"
          ? Option.none()
          : Option.some(`quick_check: ${results.slice(0, 5).join("; ")}`)
      } catch (e) {
        const code = sqliteErrorCode(e)
        if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
          return Option.some(e instanceof Error ? e.message : String(e))
        }
        return storeErrorFrom(e, path)
      }
    }

    const conn = yield* open(path)
    const verdict = check(conn)
    if (verdict instanceof StoreError) {
      conn.close()
      return yield* verdict
    }
    if (Option.isNone(verdict)) return { conn, notice: Option.none<string>() }

    const kept = `${path}.corrupt-${fileStamp(Date.now())}`
    // Renamed while still open: closing the last connection would otherwise checkpoint and delete
    // the WAL by its old name; after the rename that deletion finds nothing and the WAL is kept.
    yield* Effect.try({
      try: () => {
        fs.renameSync(path, kept)
        for (const suffix of ["-wal", "-shm"]) {
          if (fs.existsSync(path + suffix)) fs.renameSync(path + suffix, kept + suffix)
        }
      },
      catch: (e) =>
        new StoreError({
          message: `the message store ${path} is corrupt (${verdict.value}) and could not be moved aside (${String(e)}): move it away by hand`,
          cause: e
        })
    }).pipe(
      // A connection to garbage may refuse to close cleanly; the file is already aside.
      Effect.ensuring(Effect.sync(() => closeQuietly(conn)))
    )
    const notice = `the message store ${path} was corrupt (${verdict.value}); it was kept as ${kept} and a fresh store was started`
    yield* Effect.logError(notice).pipe(Effect.annotateLogs({ store: path, kept }))
    yield* touch
    const fresh = yield* open(path)
    const again = check(fresh)
    if (again instanceof StoreError || Option.isSome(again)) {
      fresh.close()
      return yield* new StoreError({ message: `a fresh message store at ${path} fails its check: check the disk` })
    }
    return { conn: fresh, notice: Option.some(notice) }
  })

const migrate = (conn: SqliteConnection, path: string) => {
  conn.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
  const current = conn.prepare("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version").get<{ v: number }>()?.v ?? 0
  if (current > migrations.length) {
    throw new StoreError({
      message: `the message store ${path} has schema version ${current}, newer than this relay knows (${migrations.length}): upgrade relay`
    })
  }
  for (let version = current + 1; version <= migrations.length; version++) {
    conn.exec("BEGIN IMMEDIATE")
    try {
      for (const sql of migrations[version - 1]!) conn.exec(sql)
      if (version === 1) conn.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?)").run(randomEpoch())
      conn.prepare("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)").run(version, new Date().toISOString())
      conn.exec("COMMIT")
    } catch (e) {
      if (conn.inTransaction()) conn.exec("ROLLBACK")
      throw e
    }
  }
}

const chmodFiles = (path: string) => {
  for (const p of [path, `${path}-wal`, `${path}-shm`]) {
    if (fs.existsSync(p)) fs.chmodSync(p, 0o600)
  }
}

/** How every connection to the file syncs and waits: the writer's and the WAL checkpointer's. */
export const durabilityPragmas = (options: Pick<SqliteFileOptions, "synchronous">): ReadonlyArray<string> => [
  `PRAGMA synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`,
  // macOS fsync does not flush the drive's cache; F_FULLFSYNC does.
  ...(options.synchronous !== "normal" && process.platform === "darwin" ? ["PRAGMA fullfsync = ON"] : []),
  "PRAGMA busy_timeout = 5000"
]

/** Pragmas and migrations; returns the file's epoch. */
const configure = (db: SqliteConnection, options: SqliteFileOptions): string => {
  const path = options.path
  const memory = path === ":memory:"
  if (!memory) {
    db.exec("PRAGMA journal_mode = WAL")
    db.exec("PRAGMA journal_size_limit = 67108864")
  }
  for (const sql of durabilityPragmas(options)) db.exec(sql)
  db.exec("PRAGMA foreign_keys = ON")
  migrate(db, path)
  if (!memory) chmodFiles(path)
  if (options.maxDbBytes !== undefined) {
    const pageSize = db.prepare("PRAGMA page_size").get<{ page_size: number }>()?.page_size ?? 4096
    db.exec(`PRAGMA max_page_count = ${Math.max(1, Math.floor(options.maxDbBytes / pageSize))}`)
  }
  return db.prepare("SELECT value FROM meta WHERE key = 'epoch'").get<{ value: string }>()?.value ?? randomEpoch()
}

/** Opens, checks and migrates the store file; the connection is closed with the scope. */
export const openSqliteFile = (options: SqliteFileOptions): Effect.Effect<SqliteFile, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const { conn, notice } = yield* Effect.acquireRelease(openChecked(options.path, options.driver), ({ conn }) =>
      // Closing is best effort: committed data is already durable.
      Effect.sync(() => closeQuietly(conn))
    )
    const epoch = yield* Effect.try({ try: () => configure(conn, options), catch: (e) => storeErrorFrom(e, options.path) })
    return { conn, epoch, notice }
  })
