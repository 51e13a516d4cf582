/**
 * The Store over SQLite (WAL), one connection: `SqliteFile` opens and migrates it, `GroupCommit`
 * runs every write through one writer fiber, and the tables hold the SQL of each area.
 */
import { Duration, Effect, Either, Layer, type Scope } from "effect"
import { makeDirectMessagesTable } from "./DirectMessagesTable.ts"
import { makeGroupCommit } from "./GroupCommit.ts"
import { makeGroupsTable } from "./GroupsTable.ts"
import { makeMessageCount } from "./MessageCount.ts"
import { makeMessageIds } from "./MessageIds.ts"
import type { SqliteDriverName } from "./SqliteDriver.ts"
import { durabilityPragmas, openSqliteFile, storeErrorFrom } from "./SqliteFile.ts"
import {
  type AppendDirectInput,
  type AppendGroupMessageInput,
  type CreateGroupInput,
  GroupExists,
  type GroupMessageRecord,
  GroupNotFound,
  type GroupRecord,
  NotMember,
  Store,
  type StoreError,
  StoreFull,
  type StoreShape
} from "./Store.ts"
import { makeWalCheckpointer } from "./WalCheckpointer.ts"
import { makeWalSync } from "./WalSync.ts"

export interface SqliteStoreOptions {
  /** Database file; its directory must exist (the hub creates it 0700). `:memory:` for a private one. */
  readonly path: string
  /** Messages kept per recipient (newest win). Default 500. */
  readonly mailboxCap?: number | undefined
  /** Messages kept per group (newest win). Default 500. */
  readonly groupCap?: number | undefined
  /** Direct + group messages in the whole store; beyond it appends fail with `StoreFull`. Default 200,000. */
  readonly maxMessages?: number | undefined
  /** Direct messages older than this are removed by `pruneRetention`. Default 30 days. */
  readonly retention?: Duration.DurationInput | undefined
  /** `full` (default): an ack survives power loss. `normal`: it survives a process crash only. */
  readonly synchronous?: "full" | "normal" | undefined
  /** Hard cap on the database file size (SQLite `max_page_count`); a write beyond it fails with `SQLITE_FULL`. */
  readonly maxDbBytes?: number | undefined
  /** Writes waiting for the writer; a writer beyond it waits (back-pressure). Default 4096. */
  readonly writeQueueCapacity?: number | undefined
  /** Writes per transaction. Default 256. */
  readonly maxBatch?: number | undefined
  /** Defaults to `bun:sqlite` under Bun, `better-sqlite3` under Node. */
  readonly driver?: SqliteDriverName | undefined
  /**
   * Who copies the WAL back into the database: `thread` (default), a worker thread with its own
   * connection, so the writer never waits for a checkpoint's fsync; `writer`, SQLite's automatic
   * checkpoint inside a COMMIT every ~1000 pages.
   */
  readonly walCheckpoint?: "thread" | "writer" | undefined
  /**
   * Who fsyncs the WAL after a commit when `synchronous` is `full`: `pool` (default on Linux), the
   * runtime's thread pool, answering the writers once it is done while the event loop goes on;
   * `commit`, SQLite inside the COMMIT, blocking the thread (the default elsewhere: macOS needs
   * SQLite's F_FULLFSYNC). The guarantee is the same.
   */
  readonly walSync?: "pool" | "commit" | undefined
}

export const defaults = {
  mailboxCap: 500,
  groupCap: 500,
  maxMessages: 200_000,
  retention: Duration.days(30),
  writeQueueCapacity: 4096,
  maxBatch: 256
} as const

type DomainError = StoreFull | GroupExists | GroupNotFound | NotMember
const isDomainError = (e: unknown): e is DomainError =>
  e instanceof StoreFull || e instanceof GroupExists || e instanceof GroupNotFound || e instanceof NotMember

/** The Store over one SQLite connection, closed (after draining pending writes) with the scope. */
export const makeSqlite = (options: SqliteStoreOptions): Effect.Effect<StoreShape, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const path = options.path
    const maxMessages = Math.max(1, options.maxMessages ?? defaults.maxMessages)

    const syncInPool =
      (options.synchronous ?? "full") === "full" &&
      path !== ":memory:" &&
      (options.walSync ?? (process.platform === "linux" ? "pool" : "commit")) === "pool"
    const { conn: db, epoch, notice } = yield* openSqliteFile(syncInPool ? { ...options, synchronous: "normal" } : options)
    // Only WAL mode keeps FULL's one difference to NORMAL in that sync; any other journal gets FULL back.
    const walMode = db.prepare("PRAGMA journal_mode").get<{ journal_mode: string }>()?.journal_mode === "wal"
    if (syncInPool && !walMode) db.exec("PRAGMA synchronous = FULL")
    const q = (sql: string) => db.prepare(sql)
    const count = yield* Effect.try({ try: () => makeMessageCount(q, maxMessages), catch: (e) => storeErrorFrom(e, path) })
    const ids = makeMessageIds(epoch)
    const direct = makeDirectMessagesTable({
      q,
      ids,
      count,
      mailboxCap: Math.max(1, options.mailboxCap ?? defaults.mailboxCap),
      retentionMs: Duration.toMillis(Duration.decode(options.retention ?? defaults.retention))
    })
    const groups = makeGroupsTable({ q, ids, count, groupCap: Math.max(1, options.groupCap ?? defaults.groupCap) })

    // Made before the writer, so stopped after the writer drained its pending writes.
    const checkpointer =
      path === ":memory:" || options.walCheckpoint === "writer"
        ? undefined
        : yield* makeWalCheckpointer({ conn: db, path, driver: db.driver, pragmas: durabilityPragmas(options) })

    const { commits, read, walSync, write, writeMany } = yield* makeGroupCommit({
      conn: db,
      path,
      capacity: options.writeQueueCapacity ?? defaults.writeQueueCapacity,
      maxBatch: Math.max(1, options.maxBatch ?? defaults.maxBatch),
      isExpected: isDomainError,
      afterRollback: () => {
        count.recount()
        direct.forget()
      },
      beforeBatch: checkpointer?.beforeBatch,
      walSync: syncInPool && walMode ? (commits) => makeWalSync({ walPath: `${path}-wal`, commits }) : undefined
    })

    const service: StoreShape = {
      appendDirect: Effect.fn("Store.appendDirect")(function* (input: AppendDirectInput) {
        const [result] = yield* writeMany([input], direct.appendMany)
        return yield* result!
      }),
      appendDirectMany: Effect.fn("Store.appendDirectMany")(function* (inputs: ReadonlyArray<AppendDirectInput>) {
        return yield* writeMany(inputs, direct.appendMany)
      }),
      unread: Effect.fn("Store.unread")(function* (
        recipient: string,
        options: { readonly limit: number; readonly sinceId?: string | undefined }
      ) {
        return yield* read(() => direct.unread(recipient, options))
      }),
      markDelivered: Effect.fn("Store.markDelivered")(function* (recipient: string, messageIds: ReadonlyArray<string>) {
        return yield* write(() => direct.markDelivered(recipient, messageIds))
      }),
      requeue: Effect.fn("Store.requeue")(function* (recipient: string, messageIds: ReadonlyArray<string>) {
        return yield* write(() => direct.requeue(recipient, messageIds))
      }),
      markRead: Effect.fn("Store.markRead")(function* (recipient: string, messageIds: ReadonlyArray<string>) {
        return yield* write(() => direct.markRead(recipient, messageIds))
      }),
      getMessage: Effect.fn("Store.getMessage")(function* (id: string) {
        return yield* read(() => direct.get(id))
      }),
      takeDropped: Effect.fn("Store.takeDropped")(function* (recipient: string) {
        return yield* write(() => direct.takeDropped(recipient))
      }),
      renamePeer: Effect.fn("Store.renamePeer")(function* (oldName: string, newName: string) {
        return yield* write(() => {
          // Renaming to itself must change nothing (it would clear its own idempotency keys).
          if (oldName === newName) return
          direct.rename(oldName, newName)
          groups.renameMember(oldName, newName)
        })
      }),
      pruneRetention: Effect.fn("Store.pruneRetention")(function* (now: Date) {
        return yield* write(() => direct.prune(now))
      }),
      createGroup: Effect.fn("Store.createGroup")(function* (input: CreateGroupInput) {
        return yield* write<GroupRecord, GroupExists>(() => groups.create(input))
      }),
      getGroup: Effect.fn("Store.getGroup")(function* (name: string) {
        return yield* read(() => groups.get(name))
      }),
      groupsOf: Effect.fn("Store.groupsOf")(function* (member: string) {
        return yield* read(() => groups.groupsOf(member))
      }),
      addMember: Effect.fn("Store.addMember")(function* (group: string, member: string, now: Date) {
        return yield* write<boolean, GroupNotFound>(() => groups.addMember(group, member, now))
      }),
      removeMember: Effect.fn("Store.removeMember")(function* (group: string, member: string) {
        return yield* write<boolean, GroupNotFound>(() => groups.removeMember(group, member))
      }),
      setAdmin: Effect.fn("Store.setAdmin")(function* (group: string, member: string) {
        return yield* write<void, GroupNotFound | NotMember>(() => groups.setAdmin(group, member))
      }),
      deleteGroup: Effect.fn("Store.deleteGroup")(function* (group: string) {
        return yield* write<void, GroupNotFound>(() => groups.delete(group))
      }),
      appendGroupMessage: Effect.fn("Store.appendGroupMessage")(function* (input: AppendGroupMessageInput) {
        return yield* write<{ message: GroupMessageRecord; duplicate: boolean }, StoreFull | GroupNotFound>(() =>
          groups.append(input)
        )
      }),
      appendGroupMessages: Effect.fn("Store.appendGroupMessages")(function* (inputs: ReadonlyArray<AppendGroupMessageInput>) {
        // Each input's domain error (no such group, store full) is decided before it writes
        // anything, so it fails alone without a savepoint.
        return yield* writeMany(inputs, (burst) =>
          burst.map((input) => {
            try {
              return Either.right(groups.append(input))
            } catch (e) {
              if (e instanceof StoreFull || e instanceof GroupNotFound) return Either.left(e)
              throw e
            }
          })
        )
      }),
      groupHistory: Effect.fn("Store.groupHistory")(function* (
        group: string,
        member: string,
        options?: { readonly limit?: number | undefined }
      ) {
        return yield* write<
          { messages: ReadonlyArray<GroupMessageRecord>; unreadRemaining: number },
          GroupNotFound | NotMember
        >(() => groups.history(group, member, options?.limit))
      }),
      unreadCount: Effect.fn("Store.unreadCount")(function* (group: string, member: string) {
        return yield* read<number, GroupNotFound | NotMember>(() => groups.unreadCount(group, member))
      }),
      recoveryNotice: Effect.succeed(notice),
      stats: Effect.fn("Store.stats")(function* () {
        return yield* read(() => ({
          path,
          driver: db.driver,
          directMessages: direct.count(),
          groupMessages: groups.messageCount(),
          groups: groups.count(),
          maxMessages,
          commits: commits(),
          fsync:
            walSync !== undefined
              ? ("after-commit" as const)
              : (db.prepare("PRAGMA synchronous").get<{ synchronous: number }>()?.synchronous ?? 0) >= 2
                ? ("in-commit" as const)
                : ("at-checkpoint" as const),
          walSyncs: walSync?.syncs() ?? 0
        }))
      })()
    }
    return service
  })

/** The durable store in a SQLite file (WAL). */
export const layerSqlite = (options: SqliteStoreOptions): Layer.Layer<Store, StoreError> =>
  Layer.scoped(Store, makeSqlite(options))

/**
 * The same store over a private SQLite `:memory:` database: identical semantics (it is the same
 * code), nothing on disk, nothing survives the scope. For unit tests.
 */
export const layerMemory = (options: Omit<SqliteStoreOptions, "path" | "synchronous"> = {}): Layer.Layer<Store, StoreError> =>
  Layer.scoped(Store, makeSqlite({ ...options, path: ":memory:" }))
