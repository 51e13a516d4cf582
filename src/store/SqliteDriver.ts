/**
 * The few synchronous SQLite calls the store needs, over `bun:sqlite` (under Bun) and
 * `better-sqlite3` (under Node). Both are loaded lazily: Node must never see the `bun:sqlite`
 * specifier, and Bun cannot load better-sqlite3's native addon.
 */

export type SqlValue = string | number | bigint | null | Uint8Array

export interface SqliteStatement {
  run(...params: ReadonlyArray<SqlValue>): { readonly changes: number }
  /** `undefined` when there is no row (bun:sqlite says `null`; we normalise). */
  get<T = Record<string, unknown>>(...params: ReadonlyArray<SqlValue>): T | undefined
  all<T = Record<string, unknown>>(...params: ReadonlyArray<SqlValue>): Array<T>
}

export interface SqliteConnection {
  readonly driver: SqliteDriverName
  /** One statement at a time: bun:sqlite and better-sqlite3 disagree on multi-statement strings. */
  exec(sql: string): void
  prepare(sql: string): SqliteStatement
  inTransaction(): boolean
  close(): void
}

export type SqliteDriverName = "bun:sqlite" | "better-sqlite3"

export const isBun = (): boolean => typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"

export const defaultDriver = (): SqliteDriverName => (isBun() ? "bun:sqlite" : "better-sqlite3")

/**
 * Opens (creating if needed) the database at `path` (`:memory:` for a private in-memory one).
 * Opening does not read the file yet; the first statement does, so corruption surfaces there.
 */
export const openSqlite = async (
  path: string,
  driver: SqliteDriverName = defaultDriver()
): Promise<SqliteConnection> => (driver === "bun:sqlite" ? openBun(path) : openBetter(path))

const openBun = async (path: string): Promise<SqliteConnection> => {
  // A variable specifier keeps bundlers and vite from resolving it ahead of time on Node.
  const specifier = "bun:sqlite"
  const mod = (await import(specifier)) as typeof import("bun:sqlite")
  const db = new mod.Database(path, { create: true, readwrite: true })
  const statements = statementCache((sql) => {
    const stmt = db.prepare(sql)
    return {
      run: (...params) => stmt.run(...(params as Array<never>)),
      get: <T>(...params: ReadonlyArray<SqlValue>) => (stmt.get(...(params as Array<never>)) ?? undefined) as T | undefined,
      all: <T>(...params: ReadonlyArray<SqlValue>) => stmt.all(...(params as Array<never>)) as Array<T>
    }
  })
  return {
    driver: "bun:sqlite",
    exec: (sql) => {
      db.run(sql)
    },
    prepare: statements.prepare,
    inTransaction: () => db.inTransaction,
    close: () => {
      statements.clear()
      db.close()
    }
  }
}

const openBetter = async (path: string): Promise<SqliteConnection> => {
  const mod = (await import("better-sqlite3")) as unknown as { default: typeof import("better-sqlite3") }
  const db = new mod.default(path)
  const statements = statementCache((sql) => {
    const stmt = db.prepare(sql)
    const returnsData = stmt.reader
    return {
      run: (...params) => {
        // better-sqlite3 refuses `run` on a statement that returns rows (e.g. some PRAGMAs).
        if (returnsData) {
          stmt.all(...params)
          return { changes: 0 }
        }
        return stmt.run(...params)
      },
      get: <T>(...params: ReadonlyArray<SqlValue>) => stmt.get(...params) as T | undefined,
      all: <T>(...params: ReadonlyArray<SqlValue>) => stmt.all(...params) as Array<T>
    }
  })
  return {
    driver: "better-sqlite3",
    exec: (sql) => {
      db.exec(sql)
    },
    prepare: statements.prepare,
    inTransaction: () => db.inTransaction,
    close: () => {
      statements.clear()
      db.close()
    }
  }
}

/** Statements are prepared once per SQL text and reused: the store runs the same few all the time. */
const statementCache = (make: (sql: string) => SqliteStatement) => {
  const cache = new Map<string, SqliteStatement>()
  return {
    prepare: (sql: string): SqliteStatement => {
      let statement = cache.get(sql)
      if (statement === undefined) {
        statement = make(sql)
        cache.set(sql, statement)
      }
      return statement
    },
    clear: () => cache.clear()
  }
}

/** The SQLite result code name (`SQLITE_FULL`, `SQLITE_NOTADB`, …) of a driver error, if any. */
export const sqliteErrorCode = (error: unknown): string | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  const code = (error as { code?: unknown }).code
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined
}
