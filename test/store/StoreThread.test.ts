import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Option } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as readline from "node:readline"
import { makeSqlite } from "../../src/store/SqliteStore.ts"
import { drainInbox, pipeline, useCleanup } from "../messaging/helpers.ts"
import { startProcessHub } from "../support/TestHub.ts"
import { tempDir } from "./helpers.ts"

const root = path.resolve(__dirname, "../..")
const bun = path.join(root, "node_modules/.bin/bun")
const script = path.join(__dirname, "fixtures/bun-thread-store.ts")

/** Runs the fixture under Bun; resolves with its stdout (parsed) and stderr once it exits 0. */
const runBun = (args: ReadonlyArray<string>) =>
  Effect.async<{ readonly out: any; readonly err: string }, Error>((resume) => {
    const child = spawn(bun, [script, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (err += d))
    child.on("exit", (code) =>
      resume(code === 0 ? Effect.try(() => ({ out: JSON.parse(out), err })) : Effect.fail(new Error(`bun exited ${code}: ${err}`)))
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Starts a burst on the thread store, SIGKILLs the process after `acks` acknowledged appends. */
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

const logLines = (stderr: string) =>
  stderr
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { message: unknown; logLevel: string; annotations: Record<string, unknown> })

describe("Store on a worker thread (Bun)", () => {
  it.scopedLive("every method answers as the in-thread store does; Options, Eithers and errors come back as themselves", () =>
    Effect.gen(function* () {
      const { out } = yield* runBun(["compare", yield* tempDir])
      const { answersSynchronously: inThreadSync, ...inThread } = out.inThread.scenario
      const { answersSynchronously: threadSync, ...thread } = out.thread.scenario
      expect(thread).toEqual(inThread)
      expect(out.thread.diskFull).toEqual(out.inThread.diskFull)
      // The calls really cross a thread: the in-thread store reads synchronously, this one cannot.
      expect(inThreadSync).toBe(true)
      expect(threadSync).toBe(false)

      // What the comparison covers, seen on the thread store's side.
      expect(thread.duplicate.ok.duplicate).toBe(true)
      expect(thread.appendDirectMany.ok.map((r: any) => r.right.message.text)).toEqual(["two", "three", "four", "five"])
      expect(thread.getMessage.ok.some.text).toBe("three")
      expect(thread.getMessageNone.ok).toEqual({ none: true })
      expect(thread.getGroupNone.ok).toEqual({ none: true })
      expect(thread.renamePeer.ok).toEqual({ undefined: true })
      expect(thread.recoveryNotice.ok).toEqual({ none: true })
      expect(thread.stats.ok.driver).toBe("bun:sqlite")
      const tagged = (step: any) => ({ tag: step._tag, instanceOf: step.instanceOf, isError: step.isError })
      expect(tagged(thread.createGroupAgain.fail)).toEqual({ tag: "GroupExists", instanceOf: true, isError: true })
      expect(tagged(thread.addMemberNoGroup.fail)).toEqual({ tag: "GroupNotFound", instanceOf: true, isError: true })
      expect(tagged(thread.setAdminNotMember.fail)).toEqual({ tag: "NotMember", instanceOf: true, isError: true })
      expect(thread.setAdminNotMember.fail.fields).toEqual({ group: "g", member: "Z" })
      expect(tagged(thread.appendDirectFull.fail)).toEqual({ tag: "StoreFull", instanceOf: true, isError: true })
      expect(thread.appendDirectFull.fail.fields).toEqual({ limit: 12 })
      expect(thread.appendGroupMessages.ok.map((r: any) => r.left?._tag ?? r.right.duplicate)).toEqual([false, "GroupNotFound", true, false])
      const full = thread.appendDirectManyFull.ok.map((r: any) => r.left?._tag ?? "stored")
      expect(full).toContain("stored")
      expect(full).toContain("StoreFull")
      // A write past the file's size cap: StoreError with its SQLite code, its cause rebuilt.
      expect(out.thread.diskFull.alone.fail).toMatchObject({ _tag: "StoreError", instanceOf: true, fields: { code: "SQLITE_FULL" }, causeCode: "SQLITE_FULL" })
      expect(out.thread.diskFull.burst.map((r: any) => r.left?.fields.code ?? "stored")).toContain("SQLITE_FULL")
    })
  )

  it.scopedLive("A1: every append acknowledged before a kill -9 is in the store, in order", () =>
    Effect.gen(function* () {
      const db = path.join(yield* tempDir, "relay.db")
      const acked = yield* burstThenKill(db, 300)
      expect(acked.length).toBeGreaterThanOrEqual(300)

      const store = yield* makeSqlite({ path: db })
      expect(yield* store.recoveryNotice).toEqual(Option.none())
      const stored = (yield* store.unread("B", { limit: 500 })).messages
      const byId = new Map(stored.map((m) => [m.id, m]))
      for (const ack of acked) expect(byId.get(ack.id)?.text).toBe(ack.text)
      const texts = stored.map((m) => Number(m.text))
      expect(texts).toEqual([...texts].sort((a, b) => a - b))
    })
  )

  it.scopedLive("opening fails, or recovers a corrupt file, exactly as in-thread; the worker's logs reach the main logger", () =>
    Effect.gen(function* () {
      /** The same four cases in two directories, one per store kind. */
      const cases = (dir: string) => {
        fs.writeFileSync(path.join(dir, "relay.db"), "this is not a database\n".repeat(500))
        // A directory where the file should be: SQLite cannot open it, even as root.
        fs.mkdirSync(path.join(dir, "dir.db"))
        fs.mkdirSync(path.join(dir, "newer"))
        const newer = new Database(path.join(dir, "newer", "relay.db"))
        newer.exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        newer.exec("INSERT INTO schema_version VALUES (999, 'x')")
        newer.close()
        return ["relay.db", "dir.db", "missing/relay.db", "newer/relay.db"].map((p) => path.join(dir, p))
      }
      const threadDir = yield* tempDir
      const inThreadDir = yield* tempDir
      const thread = yield* runBun(["open", "thread", ...cases(threadDir)])
      const inThread = yield* runBun(["open", "inThread", ...cases(inThreadDir)])
      const comparable = (value: unknown, dir: string) =>
        JSON.parse(JSON.stringify(value).split(dir).join("<dir>").replace(/corrupt-[0-9TZ-]+/g, "corrupt-<time>"))
      expect(comparable(thread.out, threadDir)).toEqual(comparable(inThread.out, inThreadDir))

      const [corrupt, directory, missing, newer] = thread.out
      const kept = fs.readdirSync(threadDir).filter((f) => f.startsWith("relay.db.corrupt-"))
      expect(kept).toHaveLength(1)
      expect(corrupt).toMatchObject({ ok: true, stored: "after open" })
      expect(corrupt.notice).toContain(path.join(threadDir, kept[0]!))
      expect(directory).toMatchObject({ ok: false, error: { _tag: "StoreError", instanceOf: true, fields: { code: "SQLITE_CANTOPEN" } } })
      expect(missing.error.message).toContain("does not exist")
      expect(newer.error.message).toContain("upgrade relay")

      const recovered = logLines(thread.err).find((l) => String(l.message).includes("was corrupt"))
      expect(recovered).toMatchObject({ logLevel: "ERROR", annotations: { store: path.join(threadDir, "relay.db") } })
    })
  )

  it.scopedLive("a thread that dies fails every waiting and later call with a StoreError, logged, never a hang", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      for (const [how, reason] of [
        ["exit", "it exited with code 7"],
        ["throw", "the store worker blew up on purpose"]
      ] as const) {
        const db = path.join(dir, `${how}.db`)
        const { out, err } = yield* runBun(["die", db, how])
        const stopped = {
          _tag: "StoreError",
          instanceOf: true,
          message: `the message store thread for ${db} stopped: ${reason}; restart the hub`
        }
        expect(out.before).toBe("before")
        const held = out.calls.filter((c: any) => c.held || c.dies)
        expect(held).toHaveLength(11)
        for (const call of held) expect(call.fail).toMatchObject(stopped)
        // The others were answered before it died, or fail the same way.
        for (const call of out.calls.filter((c: any) => !c.held && !c.dies)) {
          if (call.ok === undefined) expect(call.fail).toMatchObject(stopped)
        }
        expect(out.after.fail).toMatchObject(stopped)
        expect(out.stats.fail).toMatchObject(stopped)
        expect(logLines(err).filter((l) => l.message === "the message store thread stopped")).toEqual([
          expect.objectContaining({ logLevel: "ERROR", annotations: { store: db, reason } })
        ])
      }
    })
  )

  it.scopedLive("closing commits every write already sent to the thread; later calls fail as closed", () =>
    Effect.gen(function* () {
      const db = path.join(yield* tempDir, "relay.db")
      const { out } = yield* runBun(["drain", db])
      expect(out.pendingAtClose).toBeGreaterThan(0)
      expect(out.failed).toEqual([])
      expect(out.appended).toBe(2000)
      expect(out.stored).toBe(2000)
      expect(out.afterClose.fail).toMatchObject({
        _tag: "StoreError",
        message: `the message store ${db} is closed (the hub is stopping): retry after it restarts`
      })
    })
  )

  it.scopedLive("the WAL checkpointer's own worker runs inside the store thread", () =>
    Effect.gen(function* () {
      const { out } = yield* runBun(["wal", path.join(yield* tempDir, "relay.db")])
      expect(out.restarts).toBeGreaterThanOrEqual(3)
    })
  )

  it.scopedLive("a store left open does not keep an idle process alive", () =>
    Effect.gen(function* () {
      // runBun resolves only once the process has exited by itself.
      const { out } = yield* runBun(["idle", path.join(yield* tempDir, "relay.db")])
      expect(out).toEqual({ stored: "left open" })
    })
  )
})

describe("relay hub with RELAY_STORE_THREAD=1 (real process, Bun)", () => {
  const use = useCleanup()
  const onThread = "the message store runs on its own thread"

  it("stores through its store thread, stops cleanly, and the file reads back in a hub without it", async () => {
    const hub = use.hub(await startProcessHub({ env: { RELAY_STORE_THREAD: "1", RELAY_LOG_LEVEL: "debug" } }))
    const alice = await use.peer(hub, "alice")
    const acks = await pipeline(alice, Array.from({ length: 20 }, (_, i) => ({ type: "send", to: "bob", text: `d${i}` })), "d")
    expect(acks.map((a) => a.status)).toEqual(Array.from({ length: 20 }, () => "queued"))
    expect(await alice.request({ type: "msg_status", msg_id: acks[3]!.msg_id })).toMatchObject({ state: "queued" })
    expect(await alice.request({ type: "group_create", name: "team", members: ["bob"] })).toMatchObject({ type: "group_created" })
    const groupAcks = await pipeline(alice, [1, 2, 3].map((i) => ({ type: "group_send", group: "team", text: `g${i}` })), "g")
    expect(groupAcks.map((a) => a.type)).toEqual(["group_ack", "group_ack", "group_ack"])
    hub.child.kill("SIGTERM")
    expect(await hub.exited, hub.stderr()).toBe(0)
    expect(hub.stderr()).toContain(onThread)

    const again = use.hub(await startProcessHub({ dataDir: hub.dataDir, env: { RELAY_LOG_LEVEL: "debug" } }))
    const bob = await use.peer(again, "bob")
    const { messages } = await drainInbox(bob)
    expect(messages.map((m) => [m.text, m.msg_id])).toEqual(acks.map((a, i) => [`d${i}`, a.msg_id]))
    const history = await bob.request({ type: "group_history", group: "team" })
    expect(history.messages.filter((m: any) => m.type === "message").map((m: any) => m.text)).toEqual(["g1", "g2", "g3"])
    expect(again.stderr()).not.toContain(onThread)
  })
})
