/**
 * Makes commits durable without stalling the event loop. With `synchronous=FULL` SQLite fsyncs the
 * WAL inside every COMMIT, and that fsync (~120 µs here, milliseconds on slower disks) blocks the
 * one thread that also reads sockets and routes messages. In WAL mode FULL differs from NORMAL only
 * by that sync of the WAL after each commit (https://sqlite.org/pragma.html#pragma_synchronous),
 * so the writer commits with NORMAL and this module does the sync itself, on the runtime's thread
 * pool: a commit's waiters are answered once a sync that began after it finished. The guarantee
 * of an answer is the same as FULL's; the thread is free while the disk works.
 *
 * Syncs coalesce: one runs at a time, and the next covers every commit made meanwhile, so under
 * load one fsync makes many transactions durable.
 *
 * `fsync` works on the file, not on the descriptor that wrote it (Linux flushes the inode's dirty
 * pages whoever wrote them), so a descriptor of our own serves. It is opened on the first sync
 * (the WAL exists once something committed) and closed when the writer stops. SQLite never locks
 * the WAL file (its locks are on the database and `-shm` files), so closing our descriptor cannot
 * drop one of its POSIX locks.
 */
import * as fs from "node:fs"

export interface WalSyncOptions {
  /** The WAL file: the database path + `-wal`. */
  readonly walPath: string
  /** Transactions committed so far, read when a sync starts: the sync covers all of them. */
  readonly commits: () => number
  /** The fsync to run; the default is `fs.fsync` (thread pool). Tests hold or fail it. */
  readonly fsync?: ((fd: number, done: (error: Error | null) => void) => void) | undefined
}

export interface WalSync {
  /** Calls `then` once commits up to `commit` (a value of `commits()`) are on disk, or a sync covering them failed. */
  readonly whenDurable: (commit: number, then: (error: Error | undefined) => void) => void
  /** True when every commit so far is on disk: a read may answer at once. */
  readonly caughtUp: () => boolean
  /** Syncs started so far. */
  readonly syncs: () => number
  /** Closes the descriptor; call once nothing waits. */
  readonly close: () => void
}

interface Waiter {
  readonly commit: number
  readonly then: (error: Error | undefined) => void
}

export const makeWalSync = (options: WalSyncOptions): WalSync => {
  const fsync = options.fsync ?? ((fd, done) => fs.fsync(fd, done))
  let fd: number | undefined
  let durable = 0
  let running = false
  let started = 0
  let waiters: Array<Waiter> = []

  const open = (): number => (fd ??= fs.openSync(options.walPath, "r"))

  const start = () => {
    const upTo = options.commits()
    running = true
    started++
    let descriptor: number
    try {
      descriptor = open()
    } catch (e) {
      return void finish(upTo, e instanceof Error ? e : new Error(String(e)))
    }
    fsync(descriptor, (error) => finish(upTo, error ?? undefined))
  }

  /** Answers the waiters the sync covered; a failed sync fails them (the next one may succeed). */
  const finish = (upTo: number, error: Error | undefined) => {
    running = false
    if (error === undefined) durable = Math.max(durable, upTo)
    const covered = waiters.filter((w) => w.commit <= upTo)
    waiters = waiters.filter((w) => w.commit > upTo)
    for (const waiter of covered) waiter.then(error)
    if (waiters.length > 0) start()
  }

  return {
    whenDurable: (commit, then) => {
      if (commit <= durable) return then(undefined)
      waiters.push({ commit, then })
      if (!running) start()
    },
    caughtUp: () => durable >= options.commits(),
    syncs: () => started,
    close: () => {
      if (fd !== undefined) fs.closeSync(fd)
      fd = undefined
    }
  }
}
