/**
 * The number of messages (direct + group) in the store, kept in memory so the total cap costs no
 * query per append; the write bodies adjust it, the writer recounts after a rollback.
 */
import type { SqliteConnection } from "./SqliteDriver.ts"
import { StoreFull } from "./Store.ts"

export interface MessageCount {
  /** The `StoreFull` an append that evicts nothing meets when the store holds its maximum. */
  readonly full: () => StoreFull | undefined
  /** Throws what `full` returns. */
  readonly requireRoom: () => void
  readonly add: (delta: number) => void
  /** After a rolled-back transaction the in-memory count may be ahead of the file. */
  readonly recount: () => void
}

/** Counts what the file holds now; throws the driver's error if it cannot. */
export const makeMessageCount = (q: SqliteConnection["prepare"], maxMessages: number): MessageCount => {
  const countAll = () =>
    q("SELECT (SELECT COUNT(*) FROM direct_messages) + (SELECT COUNT(*) FROM group_messages) AS n").get<{ n: number }>()!.n
  let total = countAll()
  const full = () =>
    total >= maxMessages
      ? new StoreFull({
          message: `the message store holds its maximum of ${maxMessages} messages: recipients must read their mail (or an operator raise the cap) before more can be stored`,
          limit: maxMessages
        })
      : undefined
  return {
    full,
    requireRoom: () => {
      const error = full()
      if (error !== undefined) throw error
    },
    add: (delta) => {
      total += delta
    },
    recount: () => {
      try {
        total = countAll()
      } catch {
        // Keep the old count; the next successful recount corrects it.
      }
    }
  }
}
