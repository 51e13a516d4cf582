/**
 * Checkpoints the store's WAL from a worker thread with its own connection, so the writer never
 * stalls on a checkpoint: SQLite's automatic checkpoint runs inside a COMMIT, copies ~1000 pages
 * and fsyncs (2 ms median, ~20 ms p99 on our disks), holding up every message in flight.
 *
 * The worker checkpoints once every `batchesPerCheckpoint` write batches (the writer counts them in
 * shared memory), or sooner once the WAL file grew by `growthBytes`; not on a timer: a checkpoint
 * that copies the whole WAL makes the writer's next commit restart the WAL and fsync its header on
 * the event loop, even with `synchronous=NORMAL`. Checkpointing a trickle of messages every few
 * milliseconds did that for nearly every message.
 *
 * The writer's automatic checkpoint is turned off while the worker runs. A WAL only restarts from
 * its beginning when a write transaction starts after every frame was copied back; under sustained
 * writes a concurrent checkpoint never quite catches up, so once the WAL passes `catchUpFrames` the
 * writer pauses (between transactions, without blocking the thread) until the worker has copied
 * all of it. If the worker cannot run, the writer's automatic checkpoint is turned back on: the
 * WAL stays bounded either way.
 *
 * Writer and worker talk through shared memory, not messages: a busy writer may keep its event
 * loop from delivering messages for a long time, and it must still see that the WAL is too long.
 */
import { Duration, Effect, Runtime, type Scope } from "effect"
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"
import type { SqliteConnection, SqliteDriverName } from "./SqliteDriver.ts"

export interface WalCheckpointerOptions {
  /** The writer's connection: its automatic checkpoint is switched off, or back on. */
  readonly conn: Pick<SqliteConnection, "exec">
  readonly path: string
  readonly driver: SqliteDriverName
  /** Run on the worker's connection first: the same `synchronous`/`fullfsync` as the writer's. */
  readonly pragmas: ReadonlyArray<string>
  /** How often the worker looks for work when the writer was idle since its last look (else every 10 ms). Default 100 ms. */
  readonly intervalMs?: number | undefined
  /**
   * Write batches (each one commit) between two checkpoints. Default 256: the WAL restart that
   * follows a checkpoint that copied everything (an fsync on the writer's thread) then costs each
   * commit a 256th of an fsync.
   */
  readonly batchesPerCheckpoint?: number | undefined
  /**
   * Growth of the WAL file since the last checkpoint that makes the worker checkpoint sooner: a few
   * batches of large messages must not grow the WAL for long. Default 4 MiB.
   */
  readonly growthBytes?: number | undefined
  /** WAL frames past which the writer waits for a full checkpoint. Default 16384 (64 MiB of 4 KiB pages). */
  readonly catchUpFrames?: number | undefined
  /** The longest the writer waits for that checkpoint. Default 1 s. */
  readonly catchUpTimeout?: Duration.DurationInput | undefined
}

export interface WalCheckpointer {
  /** For the writer, before each transaction: waits for a full checkpoint when the WAL is too long. */
  readonly beforeBatch: Effect.Effect<void>
  /** Checkpoints the worker ran that copied frames back. */
  readonly checkpoints: () => number
  /** Times the writer waited for the worker to copy back the whole WAL. */
  readonly catchUps: () => number
  /** `false` once the worker failed (or never started) and the writer checkpoints itself again. */
  readonly running: () => boolean
}

/** ES2024 (Node 16+, Bun); the project's TypeScript lib is older. */
interface AtomicsWaitAsync {
  readonly waitAsync: (
    array: Int32Array,
    index: number,
    value: number,
    timeout: number
  ) => { readonly async: false; readonly value: string } | { readonly async: true; readonly value: Promise<string> }
}

/** The writer's automatic checkpoint when no worker does it: SQLite's default. */
const autocheckpointPages = 1000

/** Slots of the shared Int32Array. */
const slot = {
  /** Catch-ups asked for by the writer; the worker waits on this slot between checkpoints. */
  asked: 0,
  /** The last catch-up the worker finished. */
  done: 1,
  /** 1 when the WAL grew past `catchUpFrames` without restarting. */
  behind: 2,
  checkpoints: 3,
  stop: 4,
  failed: 5,
  /** Write batches the writer started: the worker checkpoints every `batchesPerCheckpoint` of them. */
  batches: 6
} as const

/**
 * The worker: plain JavaScript, so that Node runs it without a TypeScript loader and Bun without
 * a file next to a bundle. A blocking loop: it sleeps on the `asked` slot until a catch-up is
 * asked for or its interval is over.
 */
const workerSource = `
const { parentPort, workerData } = require("node:worker_threads")
const { bun, modulePath, path, pragmas, intervalMs, busyIntervalMs, batchesPerCheckpoint, growthBytes, catchUpFrames, shared, slot } = workerData
const fs = require("node:fs")
/** The WAL file's size (a stat: no descriptor on a file SQLite uses, whose close could drop its locks). */
const walBytes = () => {
  try {
    return fs.statSync(path + "-wal").size
  } catch {
    return 0
  }
}
const ctl = new Int32Array(shared)
const fail = (e) => {
  Atomics.store(ctl, slot.failed, 1)
  Atomics.notify(ctl, slot.done)
  parentPort.postMessage({ type: "failed", message: String((e && e.message) || e) })
}
let db
try {
  const mod = require(modulePath)
  db = bun ? new mod.Database(path, { readwrite: true }) : new mod(path, { fileMustExist: true })
  for (const sql of pragmas) db.exec(sql)
  const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)")
  let seen = Atomics.load(ctl, slot.asked)
  let copied = -1
  let wait = intervalMs
  let batchesAtCheckpoint = 0
  let batchesAtLook = 0
  // From zero: a long WAL left by a hub that crashed is copied back at once.
  let bytesAtCheckpoint = 0
  while (Atomics.load(ctl, slot.stop) === 0) {
    Atomics.wait(ctl, slot.asked, seen, wait)
    if (Atomics.load(ctl, slot.stop) !== 0) break
    const asked = Atomics.load(ctl, slot.asked)
    const batches = Atomics.load(ctl, slot.batches)
    // Modulo 2^32: the counter wraps after ~10 days of 2,500 commits a second.
    const fewBatches = ((batches - batchesAtCheckpoint) | 0) < batchesPerCheckpoint
    if (asked === seen && fewBatches) {
      // A restart after a truncation shrinks the file: growth counts from there.
      const bytes = walBytes()
      bytesAtCheckpoint = Math.min(bytesAtCheckpoint, bytes)
      if (bytes - bytesAtCheckpoint < growthBytes) {
        // Not enough written yet: look again soon while the writer writes, later when it idles.
        wait = batches !== batchesAtLook ? busyIntervalMs : intervalMs
        batchesAtLook = batches
        continue
      }
    }
    batchesAtLook = batches
    batchesAtCheckpoint = batches
    const r = checkpoint.get()
    const progressed = r.checkpointed !== copied
    copied = r.checkpointed
    if (progressed) Atomics.add(ctl, slot.checkpoints, 1)
    // After a catch-up everything is copied back: the writer's next write restarts the WAL.
    Atomics.store(ctl, slot.behind, asked === seen && r.log >= catchUpFrames ? 1 : 0)
    if (asked !== seen) {
      seen = asked
      Atomics.store(ctl, slot.done, asked)
      Atomics.notify(ctl, slot.done)
    }
    bytesAtCheckpoint = walBytes()
    wait = busyIntervalMs
  }
} catch (e) {
  fail(e)
}
try {
  if (db !== undefined) db.close()
} catch {}
`

/** Starts the worker; with the scope it stops it (after the writer drained, if made before it). */
export const makeWalCheckpointer = (options: WalCheckpointerOptions): Effect.Effect<WalCheckpointer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const bun = options.driver === "bun:sqlite"
    const catchUpTimeoutMs = Duration.toMillis(Duration.decode(options.catchUpTimeout ?? Duration.seconds(1)))
    const shared = new SharedArrayBuffer(Object.keys(slot).length * Int32Array.BYTES_PER_ELEMENT)
    const ctl = new Int32Array(shared)

    let alive = false
    let catchUps = 0
    const stopped = { beforeBatch: Effect.void, checkpoints: () => 0, catchUps: () => 0, running: () => false }

    /** Whatever went wrong, the writer checkpoints itself again: the WAL must never grow unbounded. */
    const fallBack = (why: string) => {
      if (!alive) return
      alive = false
      Atomics.store(ctl, slot.stop, 1)
      Atomics.notify(ctl, slot.asked)
      Atomics.notify(ctl, slot.done)
      try {
        options.conn.exec(`PRAGMA wal_autocheckpoint = ${autocheckpointPages}`)
      } catch {
        // The connection is already closed: nothing more will be written.
      }
      Runtime.runFork(runtime)(
        Effect.logWarning("the WAL checkpointer thread stopped; the writer checkpoints itself again").pipe(
          Effect.annotateLogs({ store: options.path, reason: why })
        )
      )
    }

    const started = yield* Effect.try(() => {
      const modulePath = bun ? "bun:sqlite" : createRequire(import.meta.url).resolve("better-sqlite3")
      return new Worker(workerSource, {
        eval: true,
        workerData: {
          bun,
          modulePath,
          path: options.path,
          pragmas: options.pragmas,
          intervalMs: Math.max(1, options.intervalMs ?? 100),
          busyIntervalMs: Math.max(1, Math.min(options.intervalMs ?? 100, 10)),
          batchesPerCheckpoint: Math.max(1, options.batchesPerCheckpoint ?? 256),
          growthBytes: Math.max(1, options.growthBytes ?? 4 * 1024 * 1024),
          catchUpFrames: Math.max(1, options.catchUpFrames ?? 16384),
          shared,
          slot
        }
      })
    }).pipe(Effect.option)
    if (started._tag === "None") {
      yield* Effect.logWarning("could not start the WAL checkpointer thread; the writer checkpoints itself").pipe(
        Effect.annotateLogs({ store: options.path })
      )
      return stopped
    }
    const thread = started.value
    // A store left open must not keep the process alive; an exit mid-checkpoint is safe for SQLite.
    thread.unref()
    alive = true
    options.conn.exec("PRAGMA wal_autocheckpoint = 0")

    let stopping = false
    let exited = false
    thread.on("message", (message: { readonly type: string; readonly message?: string }) => {
      if (message.type === "failed") fallBack(message.message ?? "failed")
    })
    thread.on("error", (error) => fallBack(String(error)))
    thread.on("exit", (code) => {
      exited = true
      if (!stopping) fallBack(`exited with code ${code}`)
    })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        stopping = true
        alive = false
        Atomics.store(ctl, slot.stop, 1)
        Atomics.notify(ctl, slot.asked)
        if (exited) return
        const ended = yield* Effect.async<void>((resume) => {
          thread.once("exit", () => resume(Effect.void))
        }).pipe(Effect.timeout(Duration.seconds(2)), Effect.option)
        if (ended._tag === "None") yield* Effect.promise(() => thread.terminate())
      })
    )

    /** Resolves once the worker finished catch-up `asked`, or failed, or the time is up. */
    const awaitDone = (asked: number, deadline: number): Promise<void> => {
      const done = Atomics.load(ctl, slot.done)
      const left = deadline - Date.now()
      if (done >= asked || !alive || Atomics.load(ctl, slot.failed) !== 0 || left <= 0) return Promise.resolve()
      const waited = (Atomics as unknown as AtomicsWaitAsync).waitAsync(ctl, slot.done, done, left)
      return (waited.async ? waited.value : Promise.resolve()).then(() => awaitDone(asked, deadline))
    }

    const beforeBatch = Effect.suspend(() => {
      if (!alive) return Effect.void
      Atomics.add(ctl, slot.batches, 1)
      if (Atomics.load(ctl, slot.failed) !== 0) {
        fallBack("failed")
        return Effect.void
      }
      if (Atomics.load(ctl, slot.behind) === 0) return Effect.void
      Atomics.store(ctl, slot.behind, 0)
      catchUps++
      const asked = Atomics.add(ctl, slot.asked, 1) + 1
      Atomics.notify(ctl, slot.asked)
      // A stuck disk must not stop the writer for good: past the timeout it goes on, the WAL longer.
      return Effect.promise(() => awaitDone(asked, Date.now() + catchUpTimeoutMs))
    })

    return {
      beforeBatch,
      checkpoints: () => Atomics.load(ctl, slot.checkpoints),
      catchUps: () => catchUps,
      running: () => alive
    }
  })
