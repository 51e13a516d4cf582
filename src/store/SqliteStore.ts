/**
 * The Store over SQLite (WAL), one connection, writes group-committed by a single writer fiber:
 * it takes what is pending (up to `maxBatch`), runs it in one `BEGIN IMMEDIATE … COMMIT`, and only
 * then completes each waiter. Reads run synchronously on the same connection; since a batch runs
 * synchronously too, a read never sees a half-applied batch.
 */
import { Chunk, Deferred, Duration, Effect, Either, Exit, Layer, Option, Queue, Ref, Scope } from "effect"
import * as fs from "node:fs"
import * as nodePath from "node:path"
import { migrations } from "./Migrations.ts"
import { openSqlite, sqliteErrorCode, type SqliteConnection, type SqliteDriverName } from "./SqliteDriver.ts"
import {
  type AppendDirectInput,
  type AppendDirectResult,
  type AppendGroupMessageInput,
  type DeliveryState,
  type DirectMessage,
  GroupExists,
  type GroupMessageKind,
  type GroupMessageRecord,
  GroupNotFound,
  type GroupRecord,
  NotMember,
  Store,
  StoreError,
  StoreFull,
  type StoreShape
} from "./Store.ts"

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

interface Job {
  readonly run: () => unknown
  readonly done: Deferred.Deferred<unknown, unknown>
}

interface DirectRow {
  readonly seq: number
  readonly id: string
  readonly sender: string
  readonly recipient: string
  readonly text: string
  readonly reply_to: string | null
  readonly urgent: number
  readonly ts: string
  readonly state: DeliveryState
  readonly notify_read: number
}

interface GroupMessageRow {
  readonly id: string
  readonly grp: string
  readonly seq: number
  readonly sender: string
  readonly text: string
  readonly ts: string
  readonly kind: GroupMessageKind
}

const toDirect = (row: DirectRow): DirectMessage => ({
  id: row.id,
  seq: row.seq,
  from: row.sender,
  to: row.recipient,
  text: row.text,
  replyTo: row.reply_to,
  urgent: row.urgent === 1,
  ts: row.ts,
  state: row.state,
  notifyRead: row.notify_read === 1
})

const toGroupMessage = (row: GroupMessageRow): GroupMessageRecord => ({
  id: row.id,
  seq: row.seq,
  group: row.grp,
  from: row.sender,
  text: row.text,
  ts: row.ts,
  kind: row.kind
})

const bySeq = (a: { readonly seq: number }, b: { readonly seq: number }) => a.seq - b.seq

/** What the user can do, by SQLite result code. */
const storeErrorFrom = (error: unknown, path: string): StoreError => {
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

const randomEpoch = () => Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, "0")

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
      Effect.ensuring(
        Effect.sync(() => {
          try {
            conn.close()
          } catch {
            // A connection to garbage may refuse to close cleanly; the file is already aside.
          }
        })
      )
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

/** The Store over one SQLite connection, closed (after draining pending writes) with the scope. */
export const makeSqlite = (options: SqliteStoreOptions): Effect.Effect<StoreShape, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const path = options.path
    const memory = path === ":memory:"
    const mailboxCap = Math.max(1, options.mailboxCap ?? defaults.mailboxCap)
    const groupCap = Math.max(1, options.groupCap ?? defaults.groupCap)
    const maxMessages = Math.max(1, options.maxMessages ?? defaults.maxMessages)
    const retentionMs = Duration.toMillis(Duration.decode(options.retention ?? defaults.retention))
    const maxBatch = Math.max(1, options.maxBatch ?? defaults.maxBatch)

    const { conn: db, notice } = yield* Effect.acquireRelease(openChecked(path, options.driver), ({ conn }) =>
      Effect.sync(() => {
        try {
          conn.close()
        } catch {
          // Closing is best effort: committed data is already durable.
        }
      })
    )

    const epoch = yield* Effect.try({
      try: () => {
        if (!memory) {
          db.exec("PRAGMA journal_mode = WAL")
          db.exec("PRAGMA journal_size_limit = 67108864")
        }
        db.exec(`PRAGMA synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`)
        // macOS fsync does not flush the drive's cache; F_FULLFSYNC does.
        if (options.synchronous !== "normal" && process.platform === "darwin") db.exec("PRAGMA fullfsync = ON")
        db.exec("PRAGMA foreign_keys = ON")
        db.exec("PRAGMA busy_timeout = 5000")
        migrate(db, path)
        if (!memory) chmodFiles(path)
        if (options.maxDbBytes !== undefined) {
          const pageSize = db.prepare("PRAGMA page_size").get<{ page_size: number }>()?.page_size ?? 4096
          db.exec(`PRAGMA max_page_count = ${Math.max(1, Math.floor(options.maxDbBytes / pageSize))}`)
        }
        return db.prepare("SELECT value FROM meta WHERE key = 'epoch'").get<{ value: string }>()?.value ?? randomEpoch()
      },
      catch: (e) => storeErrorFrom(e, path)
    })

    // ---------------------------------------------------------------------------------------
    // Statements and the message count that the total cap is checked against.

    const q = (sql: string) => db.prepare(sql)
    const countAll = () =>
      q("SELECT (SELECT COUNT(*) FROM direct_messages) + (SELECT COUNT(*) FROM group_messages) AS n").get<{ n: number }>()!.n
    let total = yield* Effect.try({ try: countAll, catch: (e) => storeErrorFrom(e, path) })
    /** After a rolled-back transaction the in-memory count may be ahead of the file. */
    const recount = () => {
      try {
        total = countAll()
      } catch {
        // Keep the old count; the next successful recount corrects it.
      }
    }

    const lastRowId = (table: string) =>
      q("SELECT seq FROM sqlite_sequence WHERE name = ?").get<{ seq: number }>(table)?.seq ?? 0

    const directId = (seq: number) => `m_${epoch}_${seq.toString(36)}`
    const groupMessageId = (gid: number) => `g_${epoch}_${gid.toString(36)}`
    /** The seq encoded in one of our ids, so `sinceId` works even after that message is gone. */
    const seqOfDirectId = (id: string): number | undefined => {
      const match = /^m_([0-9a-z]+)_([0-9a-z]+)$/.exec(id)
      return match !== null && match[1] === epoch ? parseInt(match[2]!, 36) : undefined
    }

    const full = () =>
      new StoreFull({
        message: `the message store holds its maximum of ${maxMessages} messages: recipients must read their mail (or an operator raise the cap) before more can be stored`,
        limit: maxMessages
      })

    const addDropped = (peer: string, n: number) => {
      if (n > 0) {
        q("INSERT INTO dropped (peer, count) VALUES (?, ?) ON CONFLICT (peer) DO UPDATE SET count = count + excluded.count").run(peer, n)
      }
    }

    const requireGroup = (group: string) => {
      const row = q("SELECT name, admin, created_at, last_seq FROM groups WHERE name = ?").get<{
        name: string
        admin: string
        created_at: string
        last_seq: number
      }>(group)
      if (row === undefined) throw new GroupNotFound({ group, message: `there is no group "${group}"` })
      return row
    }
    const requireCursor = (group: string, member: string) => {
      const row = q("SELECT cursor FROM group_members WHERE grp = ? AND member = ?").get<{ cursor: number }>(group, member)
      if (row === undefined) {
        throw new NotMember({ group, member, message: `"${member}" is not a member of group "${group}"` })
      }
      return row.cursor
    }
    const unreadAfter = (group: string, cursor: number) =>
      q("SELECT COUNT(*) AS n FROM group_messages WHERE grp = ? AND seq > ?").get<{ n: number }>(group, cursor)!.n

    const readGroup = (name: string): Option.Option<GroupRecord> => {
      const row = q("SELECT name, admin, created_at FROM groups WHERE name = ?").get<{
        name: string
        admin: string
        created_at: string
      }>(name)
      if (row === undefined) return Option.none()
      const members = q("SELECT member, cursor, joined_at FROM group_members WHERE grp = ? ORDER BY rowid")
        .all<{ member: string; cursor: number; joined_at: string }>(name)
        .map((m) => ({ name: m.member, cursor: m.cursor, joinedAt: m.joined_at }))
      return Option.some({ name: row.name, admin: row.admin, createdAt: row.created_at, members })
    }

    // ---------------------------------------------------------------------------------------
    // Write operations: synchronous bodies run by the writer inside a transaction. A domain
    // error is thrown before anything is written.

    /** Deletes the `count` oldest of `recipient`'s messages; the queued ones count as dropped. */
    const evictOldest = (recipient: string, count: number) => {
      const oldest = q("SELECT seq, state FROM direct_messages WHERE recipient = ? ORDER BY seq LIMIT ?").all<{
        seq: number
        state: DeliveryState
      }>(recipient, count)
      const queued = oldest.filter((r) => r.state === "queued").length
      q("DELETE FROM direct_messages WHERE recipient = ? AND seq <= ?").run(recipient, oldest[oldest.length - 1]!.seq)
      addDropped(recipient, queued)
      return queued
    }

    const appendDirectTx = (input: AppendDirectInput): AppendDirectResult => {
      if (input.clientId !== undefined) {
        const existing = q("SELECT * FROM direct_messages WHERE sender = ? AND client_id = ?").get<DirectRow>(
          input.from,
          input.clientId
        )
        if (existing !== undefined) return { message: toDirect(existing), duplicate: true, evicted: 0 }
      }
      const held = q("SELECT COUNT(*) AS n FROM direct_messages WHERE recipient = ?").get<{ n: number }>(input.to)!.n
      const excess = Math.max(0, held + 1 - mailboxCap)
      if (excess === 0 && total >= maxMessages) throw full()

      const seq = lastRowId("direct_messages") + 1
      const row: DirectRow = {
        seq,
        id: directId(seq),
        sender: input.from,
        recipient: input.to,
        text: input.text,
        reply_to: input.replyTo,
        urgent: input.urgent ? 1 : 0,
        ts: input.now.toISOString(),
        state: input.initialState ?? "queued",
        notify_read: input.notifyRead === true ? 1 : 0
      }
      q(
        `INSERT INTO direct_messages (seq, id, sender, recipient, text, reply_to, urgent, ts, ts_ms, state, notify_read, client_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
      ).run(
        row.seq,
        row.id,
        row.sender,
        row.recipient,
        row.text,
        row.reply_to,
        row.urgent,
        row.ts,
        input.now.getTime(),
        row.state,
        row.notify_read,
        input.clientId ?? null
      )
      const evicted = excess > 0 ? evictOldest(input.to, excess) : 0
      total += 1 - excess
      return { message: toDirect(row), duplicate: false, evicted }
    }

    const transition = (recipient: string, ids: ReadonlyArray<string>, to: DeliveryState, from: string) => {
      if (ids.length === 0) return []
      return q(
        `UPDATE direct_messages SET state = '${to}'
         WHERE recipient = ? AND state IN (${from}) AND id IN (SELECT value FROM json_each(?))
         RETURNING *`
      )
        .all<DirectRow>(recipient, JSON.stringify(ids))
        .map(toDirect)
        .sort(bySeq)
    }

    const takeDroppedTx = (recipient: string) => {
      const n = q("SELECT count FROM dropped WHERE peer = ?").get<{ count: number }>(recipient)?.count ?? 0
      if (n > 0) q("DELETE FROM dropped WHERE peer = ?").run(recipient)
      return n
    }

    const renameTx = (oldName: string, newName: string) => {
      if (oldName === newName) return
      // The new name's idempotency keys win; the old name's clashing keys stop deduplicating.
      q(
        `UPDATE direct_messages SET client_id = NULL WHERE sender = ? AND client_id IN
         (SELECT client_id FROM direct_messages WHERE sender = ? AND client_id IS NOT NULL)`
      ).run(oldName, newName)
      q("UPDATE direct_messages SET sender = ? WHERE sender = ?").run(newName, oldName)
      q("UPDATE direct_messages SET recipient = ? WHERE recipient = ?").run(newName, oldName)
      addDropped(newName, takeDroppedTx(oldName))
      // Two merged mailboxes may hold more than the cap: the oldest go, as on an append.
      const held = q("SELECT COUNT(*) AS n FROM direct_messages WHERE recipient = ?").get<{ n: number }>(newName)!.n
      if (held > mailboxCap) {
        evictOldest(newName, held - mailboxCap)
        total -= held - mailboxCap
      }
      // A membership the new name already has is kept as it is (with its own cursor).
      q("UPDATE OR IGNORE group_members SET member = ? WHERE member = ?").run(newName, oldName)
      q("DELETE FROM group_members WHERE member = ?").run(oldName)
      q("UPDATE groups SET admin = ? WHERE admin = ?").run(newName, oldName)
    }

    const pruneTx = (now: Date) => {
      const cutoff = now.getTime() - retentionMs
      const expired = q(
        "SELECT recipient, COUNT(*) AS n FROM direct_messages WHERE ts_ms < ? AND state = 'queued' GROUP BY recipient"
      ).all<{ recipient: string; n: number }>(cutoff)
      for (const { recipient, n } of expired) addDropped(recipient, n)
      const removed = q("DELETE FROM direct_messages WHERE ts_ms < ?").run(cutoff).changes
      total -= removed
      return { removed }
    }

    const createGroupTx = (input: {
      readonly name: string
      readonly admin: string
      readonly members: ReadonlyArray<string>
      readonly now: Date
    }): GroupRecord => {
      if (q("SELECT 1 AS x FROM groups WHERE name = ?").get(input.name) !== undefined) {
        throw new GroupExists({ group: input.name, message: `a group named "${input.name}" already exists: pick another name` })
      }
      const ts = input.now.toISOString()
      q("INSERT INTO groups (name, admin, created_at) VALUES (?, ?, ?)").run(input.name, input.admin, ts)
      for (const member of new Set([input.admin, ...input.members])) {
        q("INSERT INTO group_members (grp, member, cursor, joined_at) VALUES (?, ?, 0, ?)").run(input.name, member, ts)
      }
      return Option.getOrThrow(readGroup(input.name))
    }

    const addMemberTx = (group: string, member: string, now: Date) => {
      requireGroup(group)
      return (
        q("INSERT OR IGNORE INTO group_members (grp, member, cursor, joined_at) VALUES (?, ?, 0, ?)").run(
          group,
          member,
          now.toISOString()
        ).changes > 0
      )
    }

    const removeMemberTx = (group: string, member: string) => {
      requireGroup(group)
      return q("DELETE FROM group_members WHERE grp = ? AND member = ?").run(group, member).changes > 0
    }

    const setAdminTx = (group: string, member: string) => {
      requireGroup(group)
      requireCursor(group, member)
      q("UPDATE groups SET admin = ? WHERE name = ?").run(member, group)
    }

    const deleteGroupTx = (group: string) => {
      requireGroup(group)
      const held = q("SELECT COUNT(*) AS n FROM group_messages WHERE grp = ?").get<{ n: number }>(group)!.n
      q("DELETE FROM groups WHERE name = ?").run(group)
      total -= held
    }

    const appendGroupTx = (input: AppendGroupMessageInput) => {
      const group = requireGroup(input.group)
      if (input.clientId !== undefined) {
        const existing = q("SELECT * FROM group_messages WHERE grp = ? AND sender = ? AND client_id = ?").get<GroupMessageRow>(
          input.group,
          input.from,
          input.clientId
        )
        if (existing !== undefined) return { message: toGroupMessage(existing), duplicate: true }
      }
      const seq = group.last_seq + 1
      const held = q("SELECT COUNT(*) AS n FROM group_messages WHERE grp = ?").get<{ n: number }>(input.group)!.n
      const evicting = held + 1 > groupCap
      if (!evicting && total >= maxMessages) throw full()
      const gid = lastRowId("group_messages") + 1
      const row: GroupMessageRow = {
        id: groupMessageId(gid),
        grp: input.group,
        seq,
        sender: input.from,
        text: input.text,
        ts: input.now.toISOString(),
        kind: input.kind
      }
      q(
        `INSERT INTO group_messages (gid, id, grp, seq, sender, text, ts, kind, client_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
      ).run(gid, row.id, row.grp, row.seq, row.sender, row.text, row.ts, row.kind, input.clientId ?? null)
      q("UPDATE groups SET last_seq = ? WHERE name = ?").run(seq, input.group)
      const evicted = q("DELETE FROM group_messages WHERE grp = ? AND seq <= ?").run(input.group, seq - groupCap).changes
      q("UPDATE group_members SET cursor = ? WHERE grp = ? AND member = ? AND cursor >= ?").run(seq, input.group, input.from, seq - 1)
      total += 1 - evicted
      return { message: toGroupMessage(row), duplicate: false }
    }

    const groupHistoryTx = (group: string, member: string, limit: number | undefined) => {
      requireGroup(group)
      const cursor = requireCursor(group, member)
      const rows = q("SELECT * FROM group_messages WHERE grp = ? AND seq > ? ORDER BY seq LIMIT ?").all<GroupMessageRow>(
        group,
        cursor,
        limit === undefined ? -1 : Math.max(0, Math.floor(limit))
      )
      const last = rows[rows.length - 1]
      const newCursor = last === undefined ? cursor : last.seq
      if (newCursor !== cursor) {
        q("UPDATE group_members SET cursor = ? WHERE grp = ? AND member = ?").run(newCursor, group, member)
      }
      return { messages: rows.map(toGroupMessage), unreadRemaining: unreadAfter(group, newCursor) }
    }

    // ---------------------------------------------------------------------------------------
    // The writer: group commit.

    const queue = yield* Queue.bounded<Job>(Math.max(1, options.writeQueueCapacity ?? defaults.writeQueueCapacity))
    const closed = yield* Ref.make(false)
    const closedError = () => new StoreError({ message: `the message store ${path} is closed (the hub is stopping): retry after it restarts` })

    /** Transactions the writer committed: fewer than writes when group commit batches them. */
    let commits = 0

    const failureOf = (e: unknown) => (isDomainError(e) ? e : storeErrorFrom(e, path))

    const rollback = () => {
      try {
        if (db.inTransaction()) db.exec("ROLLBACK")
      } catch {
        // SQLite may already have rolled back on its own (SQLITE_FULL, I/O errors).
      }
      recount()
    }

    // Transaction control runs for every job: prepared once, not parsed each time.
    const runAlone = (job: Job): Exit.Exit<unknown, unknown> => {
      try {
        q("BEGIN IMMEDIATE").run()
        const value = job.run()
        q("COMMIT").run()
        commits++
        return Exit.succeed(value)
      } catch (e) {
        rollback()
        return Exit.fail(failureOf(e))
      }
    }

    /**
     * One transaction for the whole batch; each job in a savepoint so a domain error undoes only
     * that job. A driver error (disk full, I/O) may roll the whole transaction back, so the batch
     * is then retried job by job: only the job that cannot be written fails.
     */
    const runBatch = (jobs: ReadonlyArray<Job>): ReadonlyArray<Exit.Exit<unknown, unknown>> => {
      if (jobs.length === 1) return [runAlone(jobs[0]!)]
      const results: Array<Exit.Exit<unknown, unknown>> = []
      try {
        q("BEGIN IMMEDIATE").run()
        for (const job of jobs) {
          q("SAVEPOINT job").run()
          try {
            results.push(Exit.succeed(job.run()))
            q("RELEASE job").run()
          } catch (e) {
            if (!isDomainError(e)) throw e
            q("ROLLBACK TO job").run()
            q("RELEASE job").run()
            results.push(Exit.fail(e))
          }
        }
        q("COMMIT").run()
        commits++
        return results
      } catch {
        rollback()
        return jobs.map(runAlone)
      }
    }

    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          const jobs = Chunk.toReadonlyArray(yield* Queue.takeBetween(queue, 1, maxBatch))
          const results = runBatch(jobs)
          for (let i = 0; i < jobs.length; i++) yield* Deferred.done(jobs[i]!.done, results[i]!)
        })
      )
    )

    // Runs before the writer is interrupted and the connection closed: pending writes commit.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        yield* Ref.set(closed, true)
        const done = yield* Deferred.make<unknown, unknown>()
        yield* Queue.offer(queue, { run: () => undefined, done })
        yield* Deferred.await(done).pipe(Effect.ignore)
        // A writer that passed the closed check just before it was set still gets its answer.
        const late = Chunk.toReadonlyArray(yield* Queue.takeAll(queue))
        const results = runBatch(late)
        for (let i = 0; i < late.length; i++) yield* Deferred.done(late[i]!.done, results[i]!)
        yield* Queue.shutdown(queue)
      })
    )

    const write = <A, E = never>(run: () => A): Effect.Effect<A, E | StoreError> =>
      Effect.gen(function* () {
        if (yield* Ref.get(closed)) return yield* closedError()
        const done = yield* Deferred.make<unknown, unknown>()
        yield* Queue.offer(queue, { run, done })
        return (yield* Deferred.await(done)) as A
      }) as Effect.Effect<A, E | StoreError>

    /** Queues several writes in one step, so they commit in this order (usually in one batch). */
    const writeAll = <A, E = never>(runs: ReadonlyArray<() => A>) =>
      Effect.gen(function* () {
        if (yield* Ref.get(closed)) return runs.map(() => Either.left(closedError() as E | StoreError))
        const jobs = yield* Effect.forEach(runs, (run) => Effect.map(Deferred.make<unknown, unknown>(), (done) => ({ run, done })))
        yield* Queue.offerAll(queue, jobs)
        return yield* Effect.forEach(jobs, (job) => Effect.either(Deferred.await(job.done) as Effect.Effect<A, E | StoreError>))
      })

    const read = <A, E = never>(run: () => A): Effect.Effect<A, E | StoreError> =>
      Effect.gen(function* () {
        if (yield* Ref.get(closed)) return yield* closedError()
        return yield* Effect.try({ try: run, catch: failureOf })
      }) as Effect.Effect<A, E | StoreError>

    const service: StoreShape = {
      appendDirect: Effect.fn("Store.appendDirect")(function* (input: AppendDirectInput) {
        return yield* write<AppendDirectResult, StoreFull>(() => appendDirectTx(input))
      }),
      appendDirectMany: Effect.fn("Store.appendDirectMany")(function* (inputs: ReadonlyArray<AppendDirectInput>) {
        return yield* writeAll<AppendDirectResult, StoreFull>(inputs.map((input) => () => appendDirectTx(input)))
      }),
      unread: Effect.fn("Store.unread")(function* (
        recipient: string,
        options: { readonly limit: number; readonly sinceId?: string | undefined }
      ) {
        return yield* read(() => {
          const since = options.sinceId === undefined ? 0 : (seqOfDirectId(options.sinceId) ?? 0)
          const limit = Math.max(0, Math.floor(options.limit))
          const messages = q(
            "SELECT * FROM direct_messages WHERE recipient = ? AND state = 'queued' AND seq > ? ORDER BY seq LIMIT ?"
          )
            .all<DirectRow>(recipient, since, limit)
            .map(toDirect)
          const queued = q(
            "SELECT COUNT(*) AS n FROM direct_messages WHERE recipient = ? AND state = 'queued' AND seq > ?"
          ).get<{ n: number }>(recipient, since)!.n
          return { messages, remaining: queued - messages.length }
        })
      }),
      markDelivered: Effect.fn("Store.markDelivered")(function* (recipient: string, ids: ReadonlyArray<string>) {
        return yield* write(() => transition(recipient, ids, "delivered", "'queued'"))
      }),
      requeue: Effect.fn("Store.requeue")(function* (recipient: string, ids: ReadonlyArray<string>) {
        return yield* write(() => transition(recipient, ids, "queued", "'delivered'"))
      }),
      markRead: Effect.fn("Store.markRead")(function* (recipient: string, ids: ReadonlyArray<string>) {
        return yield* write(() => transition(recipient, ids, "read", "'queued', 'delivered'"))
      }),
      getMessage: Effect.fn("Store.getMessage")(function* (id: string) {
        return yield* read(() =>
          Option.map(Option.fromNullable(q("SELECT * FROM direct_messages WHERE id = ?").get<DirectRow>(id)), toDirect)
        )
      }),
      takeDropped: Effect.fn("Store.takeDropped")(function* (recipient: string) {
        return yield* write(() => takeDroppedTx(recipient))
      }),
      renamePeer: Effect.fn("Store.renamePeer")(function* (oldName: string, newName: string) {
        return yield* write(() => renameTx(oldName, newName))
      }),
      pruneRetention: Effect.fn("Store.pruneRetention")(function* (now: Date) {
        return yield* write(() => pruneTx(now))
      }),
      createGroup: Effect.fn("Store.createGroup")(function* (input: {
        readonly name: string
        readonly admin: string
        readonly members: ReadonlyArray<string>
        readonly now: Date
      }) {
        return yield* write<GroupRecord, GroupExists>(() => createGroupTx(input))
      }),
      getGroup: Effect.fn("Store.getGroup")(function* (name: string) {
        return yield* read(() => readGroup(name))
      }),
      groupsOf: Effect.fn("Store.groupsOf")(function* (member: string) {
        return yield* read(() =>
          q(
            `SELECT m.grp AS name, (SELECT COUNT(*) FROM group_messages g WHERE g.grp = m.grp AND g.seq > m.cursor) AS unreadCount
             FROM group_members m WHERE m.member = ? ORDER BY m.grp`
          ).all<{ name: string; unreadCount: number }>(member)
        )
      }),
      addMember: Effect.fn("Store.addMember")(function* (group: string, member: string, now: Date) {
        return yield* write<boolean, GroupNotFound>(() => addMemberTx(group, member, now))
      }),
      removeMember: Effect.fn("Store.removeMember")(function* (group: string, member: string) {
        return yield* write<boolean, GroupNotFound>(() => removeMemberTx(group, member))
      }),
      setAdmin: Effect.fn("Store.setAdmin")(function* (group: string, member: string) {
        return yield* write<void, GroupNotFound | NotMember>(() => setAdminTx(group, member))
      }),
      deleteGroup: Effect.fn("Store.deleteGroup")(function* (group: string) {
        return yield* write<void, GroupNotFound>(() => deleteGroupTx(group))
      }),
      appendGroupMessage: Effect.fn("Store.appendGroupMessage")(function* (input: AppendGroupMessageInput) {
        return yield* write<{ message: GroupMessageRecord; duplicate: boolean }, StoreFull | GroupNotFound>(() =>
          appendGroupTx(input)
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
        >(() => groupHistoryTx(group, member, options?.limit))
      }),
      unreadCount: Effect.fn("Store.unreadCount")(function* (group: string, member: string) {
        return yield* read<number, GroupNotFound | NotMember>(() => {
          requireGroup(group)
          return unreadAfter(group, requireCursor(group, member))
        })
      }),
      recoveryNotice: Effect.succeed(notice),
      stats: Effect.fn("Store.stats")(function* () {
        return yield* read(() => ({
          path,
          driver: db.driver,
          directMessages: q("SELECT COUNT(*) AS n FROM direct_messages").get<{ n: number }>()!.n,
          groupMessages: q("SELECT COUNT(*) AS n FROM group_messages").get<{ n: number }>()!.n,
          groups: q("SELECT COUNT(*) AS n FROM groups").get<{ n: number }>()!.n,
          maxMessages,
          commits
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
