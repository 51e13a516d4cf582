import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { makeSqlite } from "../../src/store/SqliteStore.ts"
import { tempDir } from "./helpers.ts"

const root = path.resolve(__dirname, "../..")
const bun = path.join(root, "node_modules/.bin/bun")
const script = path.join(__dirname, "fixtures/bun-store.ts")

/** Runs the fixture under Bun; resolves with its stdout once it exits 0. */
const runBun = (args: ReadonlyArray<string>) =>
  Effect.async<string, Error>((resume) => {
    const child = spawn(bun, [script, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (err += d))
    child.on("exit", (code) => resume(code === 0 ? Effect.succeed(out) : Effect.fail(new Error(`bun exited ${code}: ${err}`))))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Starts a burst under Bun, SIGKILLs it after `acks` acknowledged appends, returns the acks seen. */
const burstThenKill = (db: string, acks: number) =>
  Effect.async<ReadonlyArray<{ id: string; text: string }>, Error>((resume) => {
    const child = spawn(bun, [script, "burst", db], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    const seen: Array<{ id: string; text: string }> = []
    let err = ""
    child.stderr.on("data", (d) => (err += d))
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const [tag, id, text] = line.split(" ")
      if (tag === "ack" && id !== undefined && text !== undefined) seen.push({ id, text })
      if (seen.length === acks) child.kill("SIGKILL")
    })
    child.on("exit", (_code, signal) =>
      resume(signal === "SIGKILL" ? Effect.succeed(seen) : Effect.fail(new Error(`burst ended without kill: ${err}`)))
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("Store on Bun (bun:sqlite driver)", () => {
  it.scopedLive("appends, reopens and reads back through bun:sqlite; the file is readable from Node", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const db = path.join(dir, "relay.db")
      const out = JSON.parse(yield* runBun(["roundtrip", db]))
      expect(out.driver).toBe("bun:sqlite")
      expect(out.reopenedDriver).toBe("bun:sqlite")
      expect(out.duplicate).toBe(true)
      expect(out.retryId).toBe(out.ids[0])
      expect(out.unread).toEqual([
        { id: out.ids[0], text: "one", replyTo: null, urgent: false },
        { id: out.ids[1], text: "two", replyTo: out.ids[0], urgent: true }
      ])
      expect(out.group).toEqual(["hello group"])
      expect(out.delivered).toEqual(["delivered"])
      expect(out.dropped).toBe(0)
      expect(out.stillQueued).toEqual(["one"])

      const store = yield* makeSqlite({ path: db })
      expect((yield* store.stats).driver).toBe("better-sqlite3")
      expect(Option.getOrThrow(yield* store.getMessage(out.ids[1])).text).toBe("two")
    })
  )

  it.scopedLive("A1: every append acknowledged before a kill -9 is in the store, in order", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const db = path.join(dir, "relay.db")
      const acked = yield* burstThenKill(db, 300)
      expect(acked.length).toBeGreaterThanOrEqual(300)

      const store = yield* makeSqlite({ path: db })
      expect(yield* store.recoveryNotice).toEqual(Option.none())
      const stored = (yield* store.unread("B", { limit: 500 })).messages
      const byId = new Map(stored.map((m) => [m.id, m]))
      for (const ack of acked) expect(byId.get(ack.id)?.text).toBe(ack.text)
      // Per-sender FIFO: texts are the append order, seq increases with it.
      const texts = stored.map((m) => Number(m.text))
      expect(texts).toEqual([...texts].sort((a, b) => a - b))
      expect(stored.length).toBeGreaterThanOrEqual(300)
    })
  )

  it.scopedLive("the WAL checkpointer runs bun:sqlite in its worker: the WAL restarts under a writer that never idles", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const out = JSON.parse(yield* runBun(["checkpoint", path.join(dir, "wal.db")]))
      expect(out).toMatchObject({ running: true, whileRunning: 0, catchUps: 3 })
      expect(out.checkpoints).toBeGreaterThanOrEqual(3)
      expect(out.restarts).toBeGreaterThanOrEqual(3)
    })
  )
})
