/**
 * Persistent groups: the SQL and row mapping for groups, their members (with read cursors) and
 * their history. The writes are synchronous bodies the writer runs inside a transaction; a domain
 * error is thrown before anything is written.
 */
import { Option } from "effect"
import type { MessageCount } from "./MessageCount.ts"
import { lastRowId, type MessageIds } from "./MessageIds.ts"
import type { SqliteConnection } from "./SqliteDriver.ts"
import {
  type AppendGroupMessageInput,
  type CreateGroupInput,
  GroupExists,
  type GroupMessageKind,
  type GroupMessageRecord,
  GroupNotFound,
  type GroupRecord,
  NotMember
} from "./Store.ts"

interface GroupMessageRow {
  readonly id: string
  readonly grp: string
  readonly seq: number
  readonly sender: string
  readonly text: string
  readonly ts: string
  readonly kind: GroupMessageKind
}

const toGroupMessage = (row: GroupMessageRow): GroupMessageRecord => ({
  id: row.id,
  seq: row.seq,
  group: row.grp,
  from: row.sender,
  text: row.text,
  ts: row.ts,
  kind: row.kind
})

export interface GroupsTableOptions {
  readonly q: SqliteConnection["prepare"]
  readonly ids: MessageIds
  readonly count: MessageCount
  readonly groupCap: number
}

export const makeGroupsTable = ({ q, ids, count, groupCap }: GroupsTableOptions) => {
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
  const heldBy = (group: string) => q("SELECT COUNT(*) AS n FROM group_messages WHERE grp = ?").get<{ n: number }>(group)!.n

  const get = (name: string): Option.Option<GroupRecord> => {
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

  return {
    get,

    create: (input: CreateGroupInput): GroupRecord => {
      if (q("SELECT 1 AS x FROM groups WHERE name = ?").get(input.name) !== undefined) {
        throw new GroupExists({ group: input.name, message: `a group named "${input.name}" already exists: pick another name` })
      }
      const ts = input.now.toISOString()
      q("INSERT INTO groups (name, admin, created_at) VALUES (?, ?, ?)").run(input.name, input.admin, ts)
      for (const member of new Set([input.admin, ...input.members])) {
        q("INSERT INTO group_members (grp, member, cursor, joined_at) VALUES (?, ?, 0, ?)").run(input.name, member, ts)
      }
      return Option.getOrThrow(get(input.name))
    },

    addMember: (group: string, member: string, now: Date) => {
      requireGroup(group)
      return (
        q("INSERT OR IGNORE INTO group_members (grp, member, cursor, joined_at) VALUES (?, ?, 0, ?)").run(
          group,
          member,
          now.toISOString()
        ).changes > 0
      )
    },

    removeMember: (group: string, member: string) => {
      requireGroup(group)
      return q("DELETE FROM group_members WHERE grp = ? AND member = ?").run(group, member).changes > 0
    },

    setAdmin: (group: string, member: string) => {
      requireGroup(group)
      requireCursor(group, member)
      q("UPDATE groups SET admin = ? WHERE name = ?").run(member, group)
    },

    delete: (group: string) => {
      requireGroup(group)
      const held = heldBy(group)
      q("DELETE FROM groups WHERE name = ?").run(group)
      count.add(-held)
    },

    append: (input: AppendGroupMessageInput) => {
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
      const evicting = heldBy(input.group) + 1 > groupCap
      if (!evicting) count.requireRoom()
      const gid = lastRowId(q, "group_messages") + 1
      const row: GroupMessageRow = {
        id: ids.group(gid),
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
      q("UPDATE group_members SET cursor = ? WHERE grp = ? AND member = ? AND cursor >= ?").run(
        seq,
        input.group,
        input.seenBy ?? input.from,
        seq - 1
      )
      count.add(1 - evicted)
      return { message: toGroupMessage(row), duplicate: false }
    },

    history: (group: string, member: string, limit: number | undefined) => {
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
    },

    unreadCount: (group: string, member: string) => {
      requireGroup(group)
      return unreadAfter(group, requireCursor(group, member))
    },

    groupsOf: (member: string) =>
      q(
        `SELECT m.grp AS name, (SELECT COUNT(*) FROM group_messages g WHERE g.grp = m.grp AND g.seq > m.cursor) AS unreadCount
         FROM group_members m WHERE m.member = ? ORDER BY m.grp`
      ).all<{ name: string; unreadCount: number }>(member),

    /** Moves `oldName`'s memberships, cursors and admin rights to `newName` (not the same name). */
    renameMember: (oldName: string, newName: string) => {
      // A membership the new name already has is kept as it is (with its own cursor).
      q("UPDATE OR IGNORE group_members SET member = ? WHERE member = ?").run(newName, oldName)
      q("DELETE FROM group_members WHERE member = ?").run(oldName)
      q("UPDATE groups SET admin = ? WHERE admin = ?").run(newName, oldName)
    },

    messageCount: () => q("SELECT COUNT(*) AS n FROM group_messages").get<{ n: number }>()!.n,
    count: () => q("SELECT COUNT(*) AS n FROM groups").get<{ n: number }>()!.n
  }
}
