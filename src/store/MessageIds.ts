/**
 * Message ids: the row's sequence number after a random per-file epoch, so ids stay unique when
 * a store file is replaced (a corrupt one kept aside, a fresh one started).
 */
import type { SqliteConnection } from "./SqliteDriver.ts"

export const randomEpoch = () => Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, "0")

export interface MessageIds {
  readonly direct: (seq: number) => string
  readonly group: (gid: number) => string
  /**
   * The seq of one of this file's direct-message ids (also of a message that is gone), `undefined`
   * for anything `direct` would not have produced (another file's epoch, another spelling).
   */
  readonly seqOfDirect: (id: string) => number | undefined
}

export const makeMessageIds = (epoch: string): MessageIds => {
  const prefix = `m_${epoch}_`
  const direct = (seq: number) => prefix + seq.toString(36)
  return {
    direct,
    group: (gid) => `g_${epoch}_${gid.toString(36)}`,
    seqOfDirect: (id) => {
      if (!id.startsWith(prefix)) return undefined
      const seq = parseInt(id.slice(prefix.length), 36)
      return Number.isSafeInteger(seq) && seq > 0 && direct(seq) === id ? seq : undefined
    }
  }
}

/** The last AUTOINCREMENT value `table` handed out (0 if none): the next id is one more. */
export const lastRowId = (q: SqliteConnection["prepare"], table: string) =>
  q("SELECT seq FROM sqlite_sequence WHERE name = ?").get<{ seq: number }>(table)?.seq ?? 0
