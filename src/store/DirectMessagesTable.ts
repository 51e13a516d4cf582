/**
 * Mailboxes: the SQL and row mapping for direct messages and dropped counters. The writes are
 * synchronous bodies the writer runs inside a transaction; a domain error is thrown before
 * anything is written.
 */
import { Option } from "effect"
import type { MessageCount } from "./MessageCount.ts"
import { lastRowId, type MessageIds } from "./MessageIds.ts"
import type { SqliteConnection } from "./SqliteDriver.ts"
import type { AppendDirectInput, AppendDirectResult, DeliveryState, DirectMessage } from "./Store.ts"

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

const bySeq = (a: { readonly seq: number }, b: { readonly seq: number }) => a.seq - b.seq

export interface DirectMessagesTableOptions {
  readonly q: SqliteConnection["prepare"]
  readonly ids: MessageIds
  readonly count: MessageCount
  readonly mailboxCap: number
  readonly retentionMs: number
}

export const makeDirectMessagesTable = ({ q, ids, count, mailboxCap, retentionMs }: DirectMessagesTableOptions) => {
  const addDropped = (peer: string, n: number) => {
    if (n > 0) {
      q("INSERT INTO dropped (peer, count) VALUES (?, ?) ON CONFLICT (peer) DO UPDATE SET count = count + excluded.count").run(peer, n)
    }
  }

  const heldBy = (recipient: string) =>
    q("SELECT COUNT(*) AS n FROM direct_messages WHERE recipient = ?").get<{ n: number }>(recipient)!.n

  /** Deletes the `n` oldest of `recipient`'s messages; the queued ones count as dropped. */
  const evictOldest = (recipient: string, n: number) => {
    // One statement: the rows go and report their state on the way out.
    const gone = q(
      `DELETE FROM direct_messages WHERE seq IN
         (SELECT seq FROM direct_messages WHERE recipient = ? ORDER BY seq LIMIT ?)
       RETURNING state`
    ).all<{ state: DeliveryState }>(recipient, n)
    const queued = gone.filter((r) => r.state === "queued").length
    addDropped(recipient, queued)
    return queued
  }

  const append = (input: AppendDirectInput): AppendDirectResult => {
    if (input.clientId !== undefined) {
      const existing = q("SELECT * FROM direct_messages WHERE sender = ? AND client_id = ?").get<DirectRow>(
        input.from,
        input.clientId
      )
      if (existing !== undefined) return { message: toDirect(existing), duplicate: true, evicted: 0 }
    }
    const excess = Math.max(0, heldBy(input.to) + 1 - mailboxCap)
    if (excess === 0) count.requireRoom()

    const seq = lastRowId(q, "direct_messages") + 1
    const row: DirectRow = {
      seq,
      id: ids.direct(seq),
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
    count.add(1 - excess)
    return { message: toDirect(row), duplicate: false, evicted }
  }

  /** `from` is an SQL list of the states that may change. */
  const transition = (recipient: string, messageIds: ReadonlyArray<string>, to: DeliveryState, from: string) => {
    if (messageIds.length === 0) return []
    return q(
      `UPDATE direct_messages SET state = '${to}'
       WHERE recipient = ? AND state IN (${from}) AND id IN (SELECT value FROM json_each(?))
       RETURNING *`
    )
      .all<DirectRow>(recipient, JSON.stringify(messageIds))
      .map(toDirect)
      .sort(bySeq)
  }

  const takeDropped = (recipient: string) => {
    const n = q("SELECT count FROM dropped WHERE peer = ?").get<{ count: number }>(recipient)?.count ?? 0
    if (n > 0) q("DELETE FROM dropped WHERE peer = ?").run(recipient)
    return n
  }

  return {
    append,
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
      // Two merged mailboxes may hold more than the cap: the oldest go, as on an append.
      const held = heldBy(newName)
      if (held > mailboxCap) {
        evictOldest(newName, held - mailboxCap)
        count.add(-(held - mailboxCap))
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
      return { removed }
    },

    unread: (recipient: string, options: { readonly limit: number; readonly sinceId?: string | undefined }) => {
      const since = options.sinceId === undefined ? 0 : (ids.seqOfDirect(options.sinceId) ?? 0)
      const limit = Math.max(0, Math.floor(options.limit))
      const messages = q("SELECT * FROM direct_messages WHERE recipient = ? AND state = 'queued' AND seq > ? ORDER BY seq LIMIT ?")
        .all<DirectRow>(recipient, since, limit)
        .map(toDirect)
      const queued = q("SELECT COUNT(*) AS n FROM direct_messages WHERE recipient = ? AND state = 'queued' AND seq > ?").get<{
        n: number
      }>(recipient, since)!.n
      return { messages, remaining: queued - messages.length }
    },

    get: (id: string) => Option.map(Option.fromNullable(q("SELECT * FROM direct_messages WHERE id = ?").get<DirectRow>(id)), toDirect),

    count: () => q("SELECT COUNT(*) AS n FROM direct_messages").get<{ n: number }>()!.n
  }
}
