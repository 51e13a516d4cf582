/**
 * Mailboxes: the SQL and row mapping for direct messages and dropped counters. The writes are
 * synchronous bodies the writer runs inside a transaction. A burst of appends is written as a few
 * multi-row INSERTs and one eviction per full mailbox, with counts and the next seq kept in
 * memory; each append's outcome is the same as if they had been written one by one.
 */
import { Either, Option } from "effect"
import type { MessageCount } from "./MessageCount.ts"
import { lastRowId, type MessageIds } from "./MessageIds.ts"
import type { SqliteConnection, SqlValue } from "./SqliteDriver.ts"
import { type AppendDirectInput, type AppendDirectResult, type DeliveryState, type DirectMessage, StoreFull } from "./Store.ts"

/** A stored row; `id` and `ts` follow from `seq` and `ts_ms`, so they are not stored (migration 4). */
interface DirectRow {
  readonly seq: number
  readonly sender: string
  readonly recipient: string
  readonly text: string
  readonly reply_to: string | null
  readonly urgent: number
  readonly ts_ms: number
  readonly state: DeliveryState
  readonly notify_read: number
}

/** Values per inserted row. */
const insertColumns = 10

/** INSERTs of 64, 16, 4 and 1 rows: a few statement sizes only, so the statement cache stays small. */
const insertSql: ReadonlyArray<readonly [number, string]> = [64, 16, 4, 1].map((rows) => [
  rows,
  `INSERT INTO direct_messages (seq, sender, recipient, text, reply_to, urgent, ts_ms, state, notify_read, client_id)
   VALUES ${Array.from({ length: rows }, () => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`
])

/** The columns of `DirectRow`, for SELECT and RETURNING. */
const rowColumns = "seq, sender, recipient, text, reply_to, urgent, ts_ms, state, notify_read"

const bySeq = (a: { readonly seq: number }, b: { readonly seq: number }) => a.seq - b.seq

export interface DirectMessagesTableOptions {
  readonly q: SqliteConnection["prepare"]
  readonly ids: MessageIds
  readonly count: MessageCount
  readonly mailboxCap: number
  readonly retentionMs: number
}

interface MutableResult {
  readonly message: DirectMessage
  readonly duplicate: boolean
  evicted: number
}

interface PendingEviction {
  rows: number
  /** Which append pushed out how many, in append order. */
  readonly by: Array<{ readonly result: MutableResult; readonly n: number }>
}

/** Recipients whose message count is kept in memory; beyond it the oldest entry is forgotten. */
const maxHeldEntries = 4096

export const makeDirectMessagesTable = ({ q, ids, count, mailboxCap, retentionMs }: DirectMessagesTableOptions) => {
  const toDirect = (row: DirectRow): DirectMessage => ({
    id: ids.direct(row.seq),
    seq: row.seq,
    from: row.sender,
    to: row.recipient,
    text: row.text,
    replyTo: row.reply_to,
    urgent: row.urgent === 1,
    ts: new Date(row.ts_ms).toISOString(),
    state: row.state,
    notifyRead: row.notify_read === 1
  })

  /** Seqs of the ids that are this file's; any other id names no message. */
  const seqsOf = (messageIds: ReadonlyArray<string>) => {
    const seqs: Array<number> = []
    for (const id of messageIds) {
      const seq = ids.seqOfDirect(id)
      if (seq !== undefined) seqs.push(seq)
    }
    return seqs
  }

  const addDropped = (peer: string, n: number) => {
    if (n > 0) {
      q("INSERT INTO dropped (peer, count) VALUES (?, ?) ON CONFLICT (peer) DO UPDATE SET count = count + excluded.count").run(peer, n)
    }
  }

  /**
   * Rows of the running burst not yet inserted: one INSERT of many rows costs much less than many
   * of one. Inserted before anything reads the table (a dedup lookup, a count, an eviction).
   */
  let unwritten: Array<SqlValue> = []
  const writeRows = () => {
    let at = 0
    const total = unwritten.length / insertColumns
    for (const [size, sql] of insertSql) {
      for (; total - at >= size; at += size) q(sql).run(...unwritten.slice(at * insertColumns, (at + size) * insertColumns))
    }
    unwritten = []
  }

  /**
   * Messages per recipient, kept in memory since the store is the only writer: an append needs no
   * COUNT. Bounded (a miss costs one COUNT, after the burst's rows are written); forgotten after a
   * rollback.
   */
  const held = new Map<string, number>()
  /** Rows an unfinished burst still has to evict, per recipient: the file holds that many more. */
  const pending = new Map<string, PendingEviction>()
  const heldBy = (recipient: string) => {
    let n = held.get(recipient)
    if (n === undefined) {
      writeRows()
      n = q("SELECT COUNT(*) AS n FROM direct_messages WHERE recipient = ?").get<{ n: number }>(recipient)!.n
      n -= pending.get(recipient)?.rows ?? 0
      if (held.size >= maxHeldEntries) held.delete(held.keys().next().value!)
      held.set(recipient, n)
    }
    return n
  }

  /** The next seq, kept in memory (AUTOINCREMENT still records it in the file); re-read after a rollback. */
  let nextSeq: number | undefined

  /** Deletes the `n` oldest of `recipient`'s messages, oldest first; the queued ones count as dropped. */
  const evictOldest = (recipient: string, n: number) => {
    // One statement: the rows go and report their state on the way out.
    const gone = q(
      `DELETE FROM direct_messages WHERE seq IN
         (SELECT seq FROM direct_messages WHERE recipient = ? ORDER BY seq LIMIT ?)
       RETURNING seq, state`
    )
      .all<{ seq: number; state: DeliveryState }>(recipient, n)
      .sort(bySeq)
    addDropped(recipient, gone.filter((r) => r.state === "queued").length)
    return gone
  }

  /** Runs a recipient's deferred eviction; each append is told how many queued rows it pushed out. */
  const evictPending = (recipient: string) => {
    const eviction = pending.get(recipient)
    if (eviction === undefined) return
    pending.delete(recipient)
    writeRows()
    const gone = evictOldest(recipient, eviction.rows)
    let next = 0
    // The oldest rows went in the order the appends pushed them out.
    for (const { result, n } of eviction.by) {
      for (const end = next + n; next < end; next++) if (gone[next]?.state === "queued") result.evicted++
    }
  }

  const findDuplicate = (from: string, clientId: string) => {
    writeRows()
    return q(`SELECT ${rowColumns} FROM direct_messages WHERE sender = ? AND client_id = ?`).get<DirectRow>(from, clientId)
  }

  const insert = (input: AppendDirectInput): DirectMessage => {
    nextSeq ??= lastRowId(q, "direct_messages") + 1
    const seq = nextSeq
    const message: DirectMessage = {
      id: ids.direct(seq),
      seq,
      from: input.from,
      to: input.to,
      text: input.text,
      replyTo: input.replyTo,
      urgent: input.urgent,
      ts: input.now.toISOString(),
      state: input.initialState ?? "queued",
      notifyRead: input.notifyRead === true
    }
    unwritten.push(
      seq,
      message.from,
      message.to,
      message.text,
      message.replyTo,
      message.urgent ? 1 : 0,
      input.now.getTime(),
      message.state,
      message.notifyRead ? 1 : 0,
      input.clientId ?? null
    )
    nextSeq = seq + 1
    return message
  }

  /**
   * Appends in order, each succeeding or failing (`StoreFull`, decided before anything of it is
   * written) on its own. A full mailbox is trimmed once per recipient at the end of the burst, by
   * as many of its oldest rows as the appends pushed out one by one: the same rows, so the same
   * result, as evicting after every append.
   */
  const appendMany = (inputs: ReadonlyArray<AppendDirectInput>): Array<Either.Either<AppendDirectResult, StoreFull>> => {
    const results: Array<Either.Either<AppendDirectResult, StoreFull>> = []
    for (const input of inputs) {
      if (input.clientId !== undefined) {
        let existing = findDuplicate(input.from, input.clientId)
        // A message this burst already pushed out (only its deletion waits) no longer deduplicates.
        if (existing !== undefined && pending.has(existing.recipient)) {
          evictPending(existing.recipient)
          existing = findDuplicate(input.from, input.clientId)
        }
        if (existing !== undefined) {
          results.push(Either.right({ message: toDirect(existing), duplicate: true, evicted: 0 }))
          continue
        }
      }
      const before = heldBy(input.to)
      const excess = Math.max(0, before + 1 - mailboxCap)
      if (excess === 0) {
        const full = count.full()
        if (full !== undefined) {
          results.push(Either.left(full))
          continue
        }
      }
      const result: MutableResult = { message: insert(input), duplicate: false, evicted: 0 }
      held.set(input.to, before + 1 - excess)
      count.add(1 - excess)
      if (excess > 0) {
        let eviction = pending.get(input.to)
        if (eviction === undefined) {
          eviction = { rows: 0, by: [] }
          pending.set(input.to, eviction)
        }
        eviction.rows += excess
        eviction.by.push({ result, n: excess })
      }
      results.push(Either.right(result))
    }
    writeRows()
    for (const recipient of [...pending.keys()]) evictPending(recipient)
    return results
  }

  /** `from` is an SQL list of the states that may change. */
  const transition = (recipient: string, messageIds: ReadonlyArray<string>, to: DeliveryState, from: string) => {
    const seqs = seqsOf(messageIds)
    if (seqs.length === 0) return []
    return q(
      `UPDATE direct_messages SET state = '${to}'
       WHERE seq IN (SELECT value FROM json_each(?)) AND recipient = ? AND state IN (${from})
       RETURNING ${rowColumns}`
    )
      .all<DirectRow>(JSON.stringify(seqs), recipient)
      .map(toDirect)
      .sort(bySeq)
  }

  const takeDropped = (recipient: string) => {
    const n = q("SELECT count FROM dropped WHERE peer = ?").get<{ count: number }>(recipient)?.count ?? 0
    if (n > 0) q("DELETE FROM dropped WHERE peer = ?").run(recipient)
    return n
  }

  return {
    appendMany,
    /** In-memory state may be ahead of the file after a rollback: read it again when needed. */
    forget: () => {
      held.clear()
      pending.clear()
      unwritten = []
      nextSeq = undefined
    },
    markDelivered: (recipient: string, messageIds: ReadonlyArray<string>) =>
      transition(recipient, messageIds, "delivered", "'queued'"),
    requeue: (recipient: string, messageIds: ReadonlyArray<string>) => transition(recipient, messageIds, "queued", "'delivered'"),
    markRead: (recipient: string, messageIds: ReadonlyArray<string>) =>
      transition(recipient, messageIds, "read", "'queued', 'delivered'"),
    takeDropped,

    /** Moves `oldName`'s mailbox, sent messages and dropped counter to `newName` (not the same name). */
    rename: (oldName: string, newName: string) => {
      // The new name's idempotency keys win; the old name's clashing keys stop deduplicating.
      q(
        `UPDATE direct_messages SET client_id = NULL WHERE sender = ? AND client_id IN
         (SELECT client_id FROM direct_messages WHERE sender = ? AND client_id IS NOT NULL)`
      ).run(oldName, newName)
      q("UPDATE direct_messages SET sender = ? WHERE sender = ?").run(newName, oldName)
      q("UPDATE direct_messages SET recipient = ? WHERE recipient = ?").run(newName, oldName)
      addDropped(newName, takeDropped(oldName))
      held.delete(oldName)
      held.delete(newName)
      // Two merged mailboxes may hold more than the cap: the oldest go, as on an append.
      const merged = heldBy(newName)
      if (merged > mailboxCap) {
        evictOldest(newName, merged - mailboxCap)
        count.add(-(merged - mailboxCap))
        held.set(newName, mailboxCap)
      }
    },

    prune: (now: Date) => {
      const cutoff = now.getTime() - retentionMs
      const expired = q(
        "SELECT recipient, COUNT(*) AS n FROM direct_messages WHERE ts_ms < ? AND state = 'queued' GROUP BY recipient"
      ).all<{ recipient: string; n: number }>(cutoff)
      for (const { recipient, n } of expired) addDropped(recipient, n)
      const removed = q("DELETE FROM direct_messages WHERE ts_ms < ?").run(cutoff).changes
      count.add(-removed)
      // Rare (the hub prunes hourly): counting again beats tracking which mailboxes shrank.
      if (removed > 0) held.clear()
      return { removed }
    },

    unread: (recipient: string, options: { readonly limit: number; readonly sinceId?: string | undefined }) => {
      const since = options.sinceId === undefined ? 0 : (ids.seqOfDirect(options.sinceId) ?? 0)
      const limit = Math.max(0, Math.floor(options.limit))
      const messages = q(
        `SELECT ${rowColumns} FROM direct_messages WHERE recipient = ? AND state = 'queued' AND seq > ? ORDER BY seq LIMIT ?`
      )
        .all<DirectRow>(recipient, since, limit)
        .map(toDirect)
      const queued = q("SELECT COUNT(*) AS n FROM direct_messages WHERE recipient = ? AND state = 'queued' AND seq > ?").get<{
        n: number
      }>(recipient, since)!.n
      return { messages, remaining: queued - messages.length }
    },

    get: (id: string) => {
      const seq = ids.seqOfDirect(id)
      if (seq === undefined) return Option.none()
      return Option.map(Option.fromNullable(q(`SELECT ${rowColumns} FROM direct_messages WHERE seq = ?`).get<DirectRow>(seq)), toDirect)
    },

    count: () => q("SELECT COUNT(*) AS n FROM direct_messages").get<{ n: number }>()!.n
  }
}
