import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Option } from "effect"
import * as path from "node:path"
import { migrations } from "../../src/store/Migrations.ts"
import { makeSqlite } from "../../src/store/SqliteStore.ts"
import { at, direct, tempDir } from "./helpers.ts"

/** A store file as relay wrote it at schema version 3: ids and ISO timestamps stored in each row. */
const writeVersion3 = (file: string) => {
  const db = new Database(file)
  try {
    db.pragma("journal_mode = WAL")
    db.exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    for (let version = 1; version <= 3; version++) {
      for (const sql of migrations[version - 1]!) db.exec(sql)
      db.prepare("INSERT INTO schema_version (version, applied_at) VALUES (?, 'then')").run(version)
    }
    db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', 'ep0003')").run()
    const insert = db.prepare(
      `INSERT INTO direct_messages (seq, id, sender, recipient, text, reply_to, urgent, ts, ts_ms, state, notify_read, client_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
    )
    const row = (seq: number, text: string, state: string, extra: { clientId?: string; replyTo?: string; notify?: number } = {}) =>
      insert.run(
        seq,
        `m_ep0003_${seq.toString(36)}`,
        "A",
        "B",
        text,
        extra.replyTo ?? null,
        seq % 2,
        at(seq).toISOString(),
        at(seq).getTime(),
        state,
        extra.notify ?? 0,
        extra.clientId ?? null
      )
    row(1, "one", "read")
    row(2, "two", "queued", { clientId: "k2", notify: 1 })
    row(36, "thirty-six", "delivered", { replyTo: "m_ep0003_2" })
    row(37, "gone", "queued")
    // The newest message is gone; its seq must still never be handed out again.
    db.prepare("DELETE FROM direct_messages WHERE seq = 37").run()
    db.prepare("INSERT INTO dropped (peer, count) VALUES ('B', 3)").run()
  } finally {
    db.close()
  }
}

describe("Store migrations (sqlite file)", () => {
  it.scopedLive("migration 4 keeps every message, id, timestamp and key, and never reuses a seq", () =>
    Effect.gen(function* () {
      const file = path.join(yield* tempDir, "relay.db")
      writeVersion3(file)
      const store = yield* makeSqlite({ path: file })

      const page = yield* store.unread("B", { limit: 10 })
      expect(page.messages).toEqual([
        {
          id: "m_ep0003_2",
          seq: 2,
          from: "A",
          to: "B",
          text: "two",
          replyTo: null,
          urgent: false,
          ts: at(2).toISOString(),
          state: "queued",
          notifyRead: true
        }
      ])
      expect(Option.getOrThrow(yield* store.getMessage("m_ep0003_10"))).toMatchObject({
        seq: 36,
        text: "thirty-six",
        replyTo: "m_ep0003_2",
        urgent: false,
        state: "delivered",
        ts: at(36).toISOString()
      })
      expect(Option.getOrThrow(yield* store.getMessage("m_ep0003_1"))).toMatchObject({ text: "one", state: "read", urgent: true })
      expect(yield* store.getMessage("m_ep0003_11")).toEqual(Option.none())

      const retry = yield* store.appendDirect(direct("A", "B", "two again", { clientId: "k2" }))
      expect([retry.duplicate, retry.message.id]).toEqual([true, "m_ep0003_2"])
      const fresh = yield* store.appendDirect(direct("A", "B", "new"))
      expect([fresh.message.seq, fresh.message.id]).toEqual([38, "m_ep0003_12"])
      expect(yield* store.takeDropped("B")).toBe(3)
      expect((yield* store.markRead("B", ["m_ep0003_2", "m_ep0003_10"])).map((m) => m.seq)).toEqual([2, 36])
    })
  )

  it.scopedLive("after migration 4 the rows store neither id nor ts, and only three indexes are kept up", () =>
    Effect.gen(function* () {
      const file = path.join(yield* tempDir, "relay.db")
      writeVersion3(file)
      yield* Effect.scoped(makeSqlite({ path: file }))
      const raw = new Database(file, { readonly: true })
      try {
        const columns = raw.prepare("SELECT name FROM pragma_table_info('direct_messages')").all() as Array<{ name: string }>
        expect(columns.map((c) => c.name)).toEqual([
          "seq",
          "sender",
          "recipient",
          "text",
          "reply_to",
          "urgent",
          "ts_ms",
          "state",
          "notify_read",
          "client_id"
        ])
        const indexes = raw
          .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'direct_messages' ORDER BY name")
          .all() as Array<{ name: string }>
        expect(indexes.map((i) => i.name)).toEqual(["direct_by_recipient_seq", "direct_by_time", "direct_client_id"])
        expect(raw.prepare("SELECT name, seq FROM sqlite_sequence WHERE name LIKE 'direct%'").all()).toEqual([
          { name: "direct_messages", seq: 37 }
        ])
        expect(raw.prepare("SELECT MAX(version) AS v FROM schema_version").get()).toEqual({ v: migrations.length })
      } finally {
        raw.close()
      }
    })
  )
})
