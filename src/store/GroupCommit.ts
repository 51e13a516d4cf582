/**
 * The single writer over one SQLite connection, group-committing: it takes what is pending (up to
 * `maxBatch`), runs it in one `BEGIN IMMEDIATE … COMMIT`, and only then completes each waiter —
 * with a `WalSync`, once the commit is on disk; meanwhile the writer goes on with the next batch.
 * Reads run synchronously on the same connection; since a batch runs synchronously too, a read
 * never sees a half-applied batch, and a read that may have seen a commit not yet on disk answers
 * once it is.
 */
import { Chunk, Deferred, Effect, Either, Queue, Ref, type Scope } from "effect"
import { storeErrorFrom } from "./SqliteFile.ts"
import type { SqliteConnection } from "./SqliteDriver.ts"
import { StoreError } from "./Store.ts"
import type { WalSync } from "./WalSync.ts"

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
  /** Runs before the writer takes the next batch; it may wait (e.g. for a WAL checkpoint). */
  readonly beforeBatch?: Effect.Effect<void> | undefined
  /** Made over `commits`: when set, the connection commits without syncing and this makes commits durable. */
  readonly walSync?: ((commits: () => number) => WalSync) | undefined
}

export interface GroupCommit {
  /** Runs `run` inside a write transaction; resolves once that transaction committed. */
  readonly write: <A, E = never>(run: () => A) => Effect.Effect<A, E | StoreError>
  /**
   * One write for a burst: `run` writes the inputs in order and returns one result per input, an
   * expected error as a `Left` (it must not throw one: it decides it before writing anything of
   * that input). If the transaction fails (disk full, I/O), every input is retried in its own
   * transaction, so only the inputs that cannot be written fail.
   */
  readonly writeMany: <I, A, E>(
    inputs: ReadonlyArray<I>,
    run: (inputs: ReadonlyArray<I>) => ReadonlyArray<Either.Either<A, E>>
  ) => Effect.Effect<ReadonlyArray<Either.Either<A, E | StoreError>>>
  /** Runs `run` on the connection now, outside the writer. */
  readonly read: <A, E = never>(run: () => A) => Effect.Effect<A, E | StoreError>
  /** Transactions the writer committed: fewer than writes when group commit batches them. */
  readonly commits: () => number
  /** The WAL sync, when there is one (for the store's close and its tests). */
  readonly walSync: WalSync | undefined
}

interface Job {
  readonly run: () => unknown
  readonly done: Deferred.Deferred<unknown, unknown>
  /**
   * Set for a burst, which never throws an expected error (so it needs no savepoint): how to
   * retry it in parts after its transaction failed. Its value is then one `Either` per input.
   */
  readonly inParts?: () => Outcome
}

/** A job's result: its value, or what it failed with. */
type Outcome = Either.Either<unknown, unknown>

/** Starts the writer; with the scope it stops taking writes, commits those pending, and stops. */
export const makeGroupCommit = (options: GroupCommitOptions): Effect.Effect<GroupCommit, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { conn: db, path, isExpected } = options
    const q = (sql: string) => db.prepare(sql)
    const queue = yield* Queue.bounded<Job>(Math.max(1, options.capacity))
    const closed = yield* Ref.make(false)
    const closedError = () => new StoreError({ message: `the message store ${path} is closed (the hub is stopping): retry after it restarts` })

    let commits = 0
    const walSync = options.walSync?.(() => commits)

    /** What a job answers when the sync of its commit failed: nothing it wrote is known to be on disk. */
    const unsynced = (job: Job, outcome: Outcome, error: Error): Outcome => {
      if (Either.isLeft(outcome)) return outcome
      const failure = new StoreError({
        message: `the message store ${path} could not sync its log to disk (${error.message}): what was just written may not survive a power loss; check the disk, then retry (a send with the same client_id is stored once)`,
        cause: error
      })
      if (job.inParts === undefined) return Either.left(failure)
      return Either.right((outcome.right as ReadonlyArray<Outcome>).map((one) => (Either.isRight(one) ? Either.left(failure) : one)))
    }

    /** Answers each job, once its commit is durable when there is a WAL sync. */
    const answer = (jobs: ReadonlyArray<Job>, results: ReadonlyArray<Outcome>) => {
      const answerAll = (error: Error | undefined) => {
        for (let i = 0; i < jobs.length; i++) {
          const job = jobs[i]!
          Deferred.unsafeDone(job.done, error === undefined ? results[i]! : unsynced(job, results[i]!, error))
        }
      }
      if (walSync === undefined) answerAll(undefined)
      else walSync.whenDurable(commits, answerAll)
    }

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
    const transact = (run: () => unknown): Outcome => {
      try {
        q("BEGIN IMMEDIATE").run()
        const value = run()
        q("COMMIT").run()
        commits++
        return Either.right(value)
      } catch (e) {
        rollback()
        return Either.left(failureOf(e))
      }
    }

    const runAlone = (job: Job): Outcome => {
      const outcome = transact(job.run)
      return Either.isLeft(outcome) && job.inParts !== undefined ? job.inParts() : outcome
    }

    /**
     * One transaction for the whole batch; each job but a burst in a savepoint so an expected
     * error undoes only that job. A driver error (disk full, I/O) may roll the whole transaction
     * back, so the batch is then retried job by job (a burst input by input): only what cannot be
     * written fails.
     */
    const runBatch = (jobs: ReadonlyArray<Job>): ReadonlyArray<Outcome> => {
      if (jobs.length === 1) return [runAlone(jobs[0]!)]
      const results: Array<Outcome> = []
      try {
        q("BEGIN IMMEDIATE").run()
        for (const job of jobs) {
          if (job.inParts !== undefined) {
            // Anything it throws is a driver error: the whole batch is retried below.
            results.push(Either.right(job.run()))
            continue
          }
          q("SAVEPOINT job").run()
          try {
            results.push(Either.right(job.run()))
            q("RELEASE job").run()
          } catch (e) {
            if (!isExpected(e)) throw e
            q("ROLLBACK TO job").run()
            q("RELEASE job").run()
            results.push(Either.left(e))
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

    /** Waits until every commit so far is on disk (or its sync failed: that is its writers' to report). */
    const durableSoFar = Effect.async<void>((resume) => walSync!.whenDurable(commits, () => resume(Effect.void)))

    const complete = (jobs: ReadonlyArray<Job>) => Effect.sync(() => answer(jobs, runBatch(jobs)))

    const takeBatch = Effect.flatMap(Queue.takeBetween(queue, 1, options.maxBatch), (jobs) =>
      complete(Chunk.toReadonlyArray(jobs))
    )
    yield* Effect.forkScoped(
      Effect.forever(options.beforeBatch === undefined ? takeBatch : Effect.zipRight(options.beforeBatch, takeBatch))
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
        if (walSync !== undefined) {
          // No sync may still run on the descriptor it closes.
          yield* durableSoFar
          walSync.close()
        }
      })
    )

    const write = <A, E = never>(run: () => A): Effect.Effect<A, E | StoreError> =>
      Effect.gen(function* () {
        if (yield* Ref.get(closed)) return yield* closedError()
        const done = yield* Deferred.make<unknown, unknown>()
        yield* Queue.offer(queue, { run, done })
        return (yield* Deferred.await(done)) as A
      }) as Effect.Effect<A, E | StoreError>

    const writeMany = <I, A, E>(
      inputs: ReadonlyArray<I>,
      run: (inputs: ReadonlyArray<I>) => ReadonlyArray<Either.Either<A, E>>
    ) =>
      Effect.gen(function* () {
        type Result = Either.Either<A, E | StoreError>
        if (yield* Ref.get(closed)) return inputs.map((): Result => Either.left(closedError()))
        if (inputs.length === 0) return []
        const one = (input: I): Result =>
          Either.flatMap(transact(() => run([input])[0]) as Either.Either<Result, StoreError>, (result) => result)
        const done = yield* Deferred.make<unknown, unknown>()
        yield* Queue.offer(queue, { run: () => run(inputs), done, inParts: () => Either.right(inputs.map(one)) })
        // Never fails: a failed transaction is retried in parts, each part's failure its `Left`.
        return (yield* Effect.orDie(Deferred.await(done))) as ReadonlyArray<Result>
      })

    const read = <A, E = never>(run: () => A): Effect.Effect<A, E | StoreError> =>
      Effect.gen(function* () {
        if (yield* Ref.get(closed)) return yield* closedError()
        const value = yield* Effect.try({ try: run, catch: failureOf })
        if (walSync !== undefined && !walSync.caughtUp()) yield* durableSoFar
        return value
      }) as Effect.Effect<A, E | StoreError>

    return { write, writeMany, read, commits: () => commits, walSync }
  })
