/**
 * The single writer over one SQLite connection, group-committing: it takes what is pending (up to
 * `maxBatch`), runs it in one `BEGIN IMMEDIATE … COMMIT`, and only then completes each waiter.
 * Reads run synchronously on the same connection; since a batch runs synchronously too, a read
 * never sees a half-applied batch.
 */
import { Chunk, Deferred, Effect, Either, Exit, Queue, Ref, type Scope } from "effect"
import { storeErrorFrom } from "./SqliteFile.ts"
import type { SqliteConnection } from "./SqliteDriver.ts"
import { StoreError } from "./Store.ts"

export interface GroupCommitOptions {
  readonly conn: Pick<SqliteConnection, "prepare" | "exec" | "inTransaction">
  /** For error messages. */
  readonly path: string
  /** Writes waiting for the writer; a writer beyond it waits (back-pressure). */
  readonly capacity: number
  /** Writes per transaction. */
  readonly maxBatch: number
  /** Errors a job throws on purpose: they undo only that job and reach its caller unchanged. */
  readonly isExpected: (error: unknown) => boolean
  /** Runs after every rollback, e.g. to correct in-memory state the rolled-back jobs changed. */
  readonly afterRollback: () => void
}

export interface GroupCommit {
  /** Runs `run` inside a write transaction; resolves once that transaction committed. */
  readonly write: <A, E = never>(run: () => A) => Effect.Effect<A, E | StoreError>
  /** Queues several writes in one step, so they commit in this order (usually in one batch). */
  readonly writeAll: <A, E = never>(
    runs: ReadonlyArray<() => A>
  ) => Effect.Effect<ReadonlyArray<Either.Either<A, E | StoreError>>>
  /** Runs `run` on the connection now, outside the writer. */
  readonly read: <A, E = never>(run: () => A) => Effect.Effect<A, E | StoreError>
  /** Transactions the writer committed: fewer than writes when group commit batches them. */
  readonly commits: () => number
}

interface Job {
  readonly run: () => unknown
  readonly done: Deferred.Deferred<unknown, unknown>
}

/** Starts the writer; with the scope it stops taking writes, commits those pending, and stops. */
export const makeGroupCommit = (options: GroupCommitOptions): Effect.Effect<GroupCommit, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { conn: db, path, isExpected } = options
    const q = (sql: string) => db.prepare(sql)
    const queue = yield* Queue.bounded<Job>(Math.max(1, options.capacity))
    const closed = yield* Ref.make(false)
    const closedError = () => new StoreError({ message: `the message store ${path} is closed (the hub is stopping): retry after it restarts` })

    let commits = 0

    const failureOf = (e: unknown) => (isExpected(e) ? e : storeErrorFrom(e, path))

    const rollback = () => {
      try {
        if (db.inTransaction()) db.exec("ROLLBACK")
      } catch {
        // SQLite may already have rolled back on its own (SQLITE_FULL, I/O errors).
      }
      options.afterRollback()
    }

    // Transaction control runs for every job: prepared once, not parsed each time.
    const runAlone = (job: Job): Exit.Exit<unknown, unknown> => {
      try {
        q("BEGIN IMMEDIATE").run()
        const value = job.run()
        q("COMMIT").run()
        commits++
        return Exit.succeed(value)
      } catch (e) {
        rollback()
        return Exit.fail(failureOf(e))
      }
    }

    /**
     * One transaction for the whole batch; each job in a savepoint so an expected error undoes
     * only that job. A driver error (disk full, I/O) may roll the whole transaction back, so the
     * batch is then retried job by job: only the job that cannot be written fails.
     */
    const runBatch = (jobs: ReadonlyArray<Job>): ReadonlyArray<Exit.Exit<unknown, unknown>> => {
      if (jobs.length === 1) return [runAlone(jobs[0]!)]
      const results: Array<Exit.Exit<unknown, unknown>> = []
      try {
        q("BEGIN IMMEDIATE").run()
        for (const job of jobs) {
          q("SAVEPOINT job").run()
          try {
            results.push(Exit.succeed(job.run()))
            q("RELEASE job").run()
          } catch (e) {
            if (!isExpected(e)) throw e
            q("ROLLBACK TO job").run()
            q("RELEASE job").run()
            results.push(Exit.fail(e))
          }
        }
        q("COMMIT").run()
        commits++
        return results
      } catch {
        rollback()
        return jobs.map(runAlone)
      }
    }

    const complete = (jobs: ReadonlyArray<Job>) =>
      Effect.gen(function* () {
        const results = runBatch(jobs)
        for (let i = 0; i < jobs.length; i++) yield* Deferred.done(jobs[i]!.done, results[i]!)
      })

    yield* Effect.forkScoped(
      Effect.forever(Effect.flatMap(Queue.takeBetween(queue, 1, options.maxBatch), (jobs) => complete(Chunk.toReadonlyArray(jobs))))
    )

    // Runs before the writer is interrupted and the connection closed: pending writes commit.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        yield* Ref.set(closed, true)
        const done = yield* Deferred.make<unknown, unknown>()
        yield* Queue.offer(queue, { run: () => undefined, done })
        yield* Deferred.await(done).pipe(Effect.ignore)
        // A writer that passed the closed check just before it was set still gets its answer.
        yield* complete(Chunk.toReadonlyArray(yield* Queue.takeAll(queue)))
        yield* Queue.shutdown(queue)
      })
    )

    const write = <A, E = never>(run: () => A): Effect.Effect<A, E | StoreError> =>
      Effect.gen(function* () {
        if (yield* Ref.get(closed)) return yield* closedError()
        const done = yield* Deferred.make<unknown, unknown>()
        yield* Queue.offer(queue, { run, done })
        return (yield* Deferred.await(done)) as A
      }) as Effect.Effect<A, E | StoreError>

    const writeAll = <A, E = never>(runs: ReadonlyArray<() => A>) =>
      Effect.gen(function* () {
        if (yield* Ref.get(closed)) return runs.map(() => Either.left(closedError() as E | StoreError))
        const jobs = yield* Effect.forEach(runs, (run) => Effect.map(Deferred.make<unknown, unknown>(), (done) => ({ run, done })))
        yield* Queue.offerAll(queue, jobs)
        return yield* Effect.forEach(jobs, (job) => Effect.either(Deferred.await(job.done) as Effect.Effect<A, E | StoreError>))
      })

    const read = <A, E = never>(run: () => A): Effect.Effect<A, E | StoreError> =>
      Effect.gen(function* () {
        if (yield* Ref.get(closed)) return yield* closedError()
        return yield* Effect.try({ try: run, catch: failureOf })
      }) as Effect.Effect<A, E | StoreError>

    return { write, writeAll, read, commits: () => commits }
  })
