/**
 * Message ids: the row's sequence number after a random per-file epoch, so ids stay unique when
 * a store file is replaced (a corrupt one kept aside, a fresh one started).
 */
import type { SqliteConnection } from "./SqliteDriver.ts"

export const randomEpoch = () => Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, "0")

export interface MessageIds {
  readonly direct: (seq: number) => string
  readonly group: (gid: number) => string
  /** The seq encoded in one of our ids, so `sinceId` works even after that message is gone. */
  readonly seqOfDirect: (id: string) => number | undefined
}

export const makeMessageIds = (epoch: string): MessageIds => ({
  direct: (seq) => `m_${epoch}_${seq.toString(36)}`,
  group: (gid) => `g_${epoch}_${gid.toString(36)}`,
  seqOfDirect: (id) => {
    const match = /^m_([0-9a-z]+)_([0-9a-z]+)$/.exec(id)
    return match !== null && match[1] === epoch ? parseInt(match[2]!, 36) : undefined
  }
})

/** The last AUTOINCREMENT value `table` handed out (0 if none): the next id is one more. */
export const lastRowId = (q: SqliteConnection["prepare"], table: string) =>
  q("SELECT seq FROM sqlite_sequence WHERE name = ?").get<{ seq: number }>(table)?.seq ?? 0
