/**
 * The SQLite store on its own thread (Bun): `StoreThreadWorker.ts` runs the in-thread store
 * (`makeSqlite`) and this side is a `Store` whose every call is one message there and back, so the
 * main thread does no SQLite work (~5 µs a message in situ). A call waits for the other thread,
 * though: a caller that waits for each burst before sending the next (a mailbox does) alternates
 * with the thread instead of overlapping with it, and each hand-over to a sleeping thread costs
 * ~25 µs of CPU on this 2-core VM. Measured, it is slower than the in-thread store for the hub as
 * it is (see `docs/store.md`), hence opt-in (`RELAY_STORE_THREAD=1`).
 *
 * Messages are JSON strings, not structured clones: `JSON.parse` beats the structured-clone
 * reader several times over for our small objects. What JSON cannot carry (`Option`, `Either`,
 * `Date`, the tagged errors, `undefined`) is encoded per method in `routes`; the compiler makes the
 * table cover every `Store` method and name a codec wherever a result or an argument would not
 * survive JSON. Bursts of appends go as tuples and come back as only what the store decided.
 *
 * Semantics are the in-thread store's: the worker's group commit batches whatever requests are
 * waiting, a call completes when its transaction committed, closing commits every accepted write.
 * If the thread dies, every pending and later call fails with a `StoreError`; it never hangs.
 */
import { Cause, Deferred, Duration, Effect, Either, Exit, FiberRef, Layer, LogLevel, Option, Runtime, type Scope } from "effect"
import { Worker } from "node:worker_threads"
import { storeClosed } from "./GroupCommit.ts"
import { isBun } from "./SqliteDriver.ts"
import { defaults, type SqliteStoreOptions } from "./SqliteStore.ts"
import {
  type AppendDirectInput,
  type AppendDirectResult,
  type AppendGroupMessageInput,
  type DeliveryState,
  type DirectMessage,
  GroupExists,
  type GroupMessageKind,
  type GroupMessageRecord,
  GroupNotFound,
  NotMember,
  Store,
  StoreError,
  StoreFull,
  type StoreShape
} from "./Store.ts"

// ---------------------------------------------------------------------------------------------
// The routes: how each Store method crosses the thread boundary.

type Args = Array<Loose>

type Method = keyof StoreShape
type Member<M extends Method> = StoreShape[M]
type SuccessOf<M extends Method> =
  Member<M> extends (...args: ReadonlyArray<never>) => Effect.Effect<infer A, infer _E, infer _R>
    ? A
    : Member<M> extends Effect.Effect<infer A, infer _E, infer _R>
      ? A
      : never

/** `true` when a value of type `A` comes out of `JSON.parse(JSON.stringify(a))` unchanged. */
type JsonSafe<A> = [A] extends [string | number | boolean | null]
  ? true
  : [A] extends [Option.Option<unknown> | Either.Either<unknown, unknown> | Date | undefined | void | ((...args: never) => unknown)]
    ? false
    : [A] extends [ReadonlyArray<infer I>]
      ? JsonSafe<I>
      : [A] extends [object]
        ? false extends { readonly [K in keyof A]-?: undefined extends A[K] ? JsonSafeField<A[K]> : JsonSafe<A[K]> }[keyof A]
          ? false
          : true
        : false
/** An optional field may be absent (JSON drops `undefined` fields, which reads back the same). */
type JsonSafeField<A> = JsonSafe<Exclude<A, undefined>>
type HasDate<A> = [A] extends [Date]
  ? true
  : [A] extends [string | number | boolean | null | undefined]
    ? false
    : [A] extends [ReadonlyArray<infer I>]
      ? HasDate<I>
      : [A] extends [object]
        ? true extends { readonly [K in keyof A]-?: HasDate<Exclude<A[K], undefined>> }[keyof A]
          ? true
          : false
        : false

/** How a call's arguments cross: made JSON-safe on the main thread, rebuilt on the worker. */
export interface ArgsCodec<P> {
  readonly encode: (args: P) => unknown
  readonly decode: (json: Loose) => P
}

/**
 * How a success value crosses: made JSON-safe by the worker, rebuilt on the main thread. Both
 * sides also get the call's arguments, so that what the caller sent need not come back.
 */
export interface ResultCodec<A, P = Loose> {
  readonly encode: (value: A, args: P) => unknown
  readonly decode: (json: Loose, args: P) => A
}

type Loose = any

/** A result of `undefined` (`void`) crosses as its own reply status. */
type ResultOf<A, P> = true extends JsonSafe<Exclude<A, undefined | void>>
  ? { readonly result?: ResultCodec<A, P> | undefined }
  : { readonly result: ResultCodec<A, P> }
type ArgsOf<P> = true extends HasDate<P> ? { readonly args: ArgsCodec<P> } : { readonly args?: ArgsCodec<P> | undefined }

/**
 * `call`: a method, one request per call. `get`: an Effect member, one request per run.
 * `atOpen`: an Effect member whose value is fixed once the store is open: sent with `ready`.
 */
export type Route<M extends Method> =
  Member<M> extends (...args: infer P) => Effect.Effect<infer A, infer _E, infer _R>
    ? { readonly kind: "call" } & ArgsOf<P> & ResultOf<A, P>
    : ({ readonly kind: "get" } | { readonly kind: "atOpen" }) & ResultOf<SuccessOf<M>, []>

export type AnyRoute = {
  readonly kind: "call" | "get" | "atOpen"
  readonly args?: ArgsCodec<Loose> | undefined
  readonly result?: ResultCodec<unknown> | undefined
}

const option: ResultCodec<Option.Option<Loose>> = {
  encode: (value) => Option.getOrNull(value),
  // Every optional value the store returns is an object or a string, never null itself.
  decode: (json) => Option.fromNullable(json)
}

/** JSON has no `undefined`: a positional `null` was one (no Store method takes `null` positionally). */
export const undefinedForNull = (args: Args): Args => {
  for (let i = 0; i < args.length; i++) if (args[i] === null) args[i] = undefined
  return args
}

/** Plain JSON arguments (`Date`s go as ISO strings), revived on the worker. */
const jsonArgs = (revive: (args: Args) => void): ArgsCodec<Loose> => ({
  encode: (args) => args,
  decode: (json) => {
    const args = undefinedForNull(json)
    revive(args)
    return args
  }
})
const dateAt = (at: number) =>
  jsonArgs((args) => {
    args[at] = new Date(args[at])
  })
const nowOf = (at: number) =>
  jsonArgs((args) => {
    args[at].now = new Date(args[at].now)
  })

/** Every key of `T`, optional ones too: a rebuilt object must name them all (a new field fails to compile). */
type AllOf<T> = { readonly [K in keyof Required<T>]: unknown }

// The hot path's requests are bursts of appends: sent as tuples (no keys, `now` as a number, which
// JSON writes ~6× faster than objects with a `Date`), answered with only what the store decided.

type DirectTuple = [string, string, string, string | null, boolean, string | null, boolean | null, "queued" | "delivered" | null, number]
const directInput = (i: AppendDirectInput): DirectTuple => [
  i.from,
  i.to,
  i.text,
  i.replyTo,
  i.urgent,
  i.clientId ?? null,
  i.notifyRead ?? null,
  i.initialState ?? null,
  i.now.getTime()
]
const directInputOf = (t: DirectTuple): AppendDirectInput =>
  ({
    from: t[0],
    to: t[1],
    text: t[2],
    replyTo: t[3],
    urgent: t[4],
    clientId: t[5] ?? undefined,
    notifyRead: t[6] ?? undefined,
    initialState: t[7] ?? undefined,
    now: new Date(t[8])
  }) satisfies AllOf<AppendDirectInput>

/** `[id, seq, ts, state, evicted, duplicate]` when the stored message is what was sent; else all of it. */
type DirectCompact = [string, number, string, DeliveryState, number, 0 | 1]
const directResult = (r: AppendDirectResult, i: AppendDirectInput): DirectCompact | AppendDirectResult => {
  const m = r.message
  return m.from === i.from &&
    m.to === i.to &&
    m.text === i.text &&
    m.replyTo === i.replyTo &&
    m.urgent === i.urgent &&
    m.notifyRead === (i.notifyRead === true)
    ? [m.id, m.seq, m.ts, m.state, r.evicted, r.duplicate ? 1 : 0]
    : r
}
const directResultOf = (json: DirectCompact | AppendDirectResult, i: AppendDirectInput): AppendDirectResult => {
  if (!Array.isArray(json)) return json
  const message = {
    id: json[0],
    seq: json[1],
    from: i.from,
    to: i.to,
    text: i.text,
    replyTo: i.replyTo,
    urgent: i.urgent,
    ts: json[2],
    state: json[3],
    notifyRead: i.notifyRead === true
  } satisfies AllOf<DirectMessage>
  return { message, duplicate: json[5] === 1, evicted: json[4] } satisfies AllOf<AppendDirectResult>
}

type GroupTuple = [string, string, string, GroupMessageKind, string | null, string | null, number]
const groupInput = (i: AppendGroupMessageInput): GroupTuple => [
  i.group,
  i.from,
  i.text,
  i.kind,
  i.clientId ?? null,
  i.seenBy ?? null,
  i.now.getTime()
]
const groupInputOf = (t: GroupTuple): AppendGroupMessageInput =>
  ({
    group: t[0],
    from: t[1],
    text: t[2],
    kind: t[3],
    clientId: t[4] ?? undefined,
    seenBy: t[5] ?? undefined,
    now: new Date(t[6])
  }) satisfies AllOf<AppendGroupMessageInput>

type GroupAppended = { readonly message: GroupMessageRecord; readonly duplicate: boolean }
/** `[id, seq, ts, duplicate]` when the stored message is what was sent; else all of it. */
type GroupCompact = [string, number, string, 0 | 1]
const groupResult = (r: GroupAppended, i: AppendGroupMessageInput): GroupCompact | GroupAppended => {
  const m = r.message
  return m.group === i.group && m.from === i.from && m.text === i.text && m.kind === i.kind
    ? [m.id, m.seq, m.ts, r.duplicate ? 1 : 0]
    : r
}
const groupResultOf = (json: GroupCompact | GroupAppended, i: AppendGroupMessageInput): GroupAppended => {
  if (!Array.isArray(json)) return json
  const message = {
    id: json[0],
    seq: json[1],
    group: i.group,
    from: i.from,
    text: i.text,
    ts: json[2],
    kind: i.kind
  } satisfies AllOf<GroupMessageRecord>
  return { message, duplicate: json[3] === 1 } satisfies AllOf<GroupAppended>
}

/** One input: as a tuple, its result compact. */
const one = <I, T, A, C>(
  input: (i: I) => T,
  inputOf: (t: T) => I,
  result: (a: A, i: I) => C | A,
  resultOf: (json: C | A, i: I) => A
) => ({
  args: { encode: ([i]: readonly [I]) => [input(i)], decode: ([t]: [T]) => [inputOf(t)] as [I] } satisfies ArgsCodec<[I]>,
  result: {
    encode: (a: A, [i]: readonly [I]) => result(a, i),
    decode: (json: C | A, [i]: readonly [I]) => resultOf(json, i)
  } satisfies ResultCodec<A, readonly [I]>
})

/** A burst: inputs as tuples; each result compact, `[encoded error]` when it failed. */
const burst = <I, T, A, C>(
  input: (i: I) => T,
  inputOf: (t: T) => I,
  result: (a: A, i: I) => C | A,
  resultOf: (json: C | A, i: I) => A
) => ({
  args: {
    encode: ([inputs]: readonly [ReadonlyArray<I>]) => [inputs.map(input)],
    decode: ([tuples]: [Array<T>]) => [tuples.map(inputOf)] as [ReadonlyArray<I>]
  } satisfies ArgsCodec<[ReadonlyArray<I>]>,
  result: {
    encode: (results: ReadonlyArray<Either.Either<A, unknown>>, [inputs]: readonly [ReadonlyArray<I>]) =>
      results.map((r, n) => (Either.isRight(r) ? result(r.right, inputs[n]!) : [encodeError(r.left)])),
    decode: (json: Array<C | A | [EncodedError]>, [inputs]: readonly [ReadonlyArray<I>]) =>
      json.map((e, n) =>
        Array.isArray(e) && e.length === 1
          ? Either.left(decodeError(e[0] as EncodedError) as Loose)
          : Either.right(resultOf(e as C | A, inputs[n]!))
      )
  } satisfies ResultCodec<ReadonlyArray<Either.Either<A, Loose>>, readonly [ReadonlyArray<I>]>
})

const call = { kind: "call" } as const

/** Every Store method, once. A new method is one line here; the compiler says if it needs more. */
export const routes: { readonly [M in Method]: Route<M> } = {
  appendDirect: { kind: "call", ...one(directInput, directInputOf, directResult, directResultOf) },
  appendDirectMany: { kind: "call", ...burst(directInput, directInputOf, directResult, directResultOf) },
  unread: call,
  markDelivered: call,
  markRead: call,
  requeue: call,
  getMessage: { kind: "call", result: option },
  takeDropped: call,
  renamePeer: call,
  pruneRetention: { kind: "call", args: dateAt(0) },
  createGroup: { kind: "call", args: nowOf(0) },
  getGroup: { kind: "call", result: option },
  groupsOf: call,
  addMember: { kind: "call", args: dateAt(2) },
  removeMember: call,
  setAdmin: call,
  deleteGroup: call,
  appendGroupMessage: { kind: "call", ...one(groupInput, groupInputOf, groupResult, groupResultOf) },
  appendGroupMessages: { kind: "call", ...burst(groupInput, groupInputOf, groupResult, groupResultOf) },
  groupHistory: call,
  unreadCount: call,
  recoveryNotice: { kind: "atOpen", result: option },
  stats: { kind: "get" }
}

// ---------------------------------------------------------------------------------------------
// Errors and defects across the boundary.

type FailureOf<M extends Method> =
  Member<M> extends (...args: ReadonlyArray<never>) => Effect.Effect<infer A, infer E, infer _R>
    ? E | LeftOf<A>
    : Member<M> extends Effect.Effect<infer A, infer E, infer _R>
      ? E | LeftOf<A>
      : never
type LeftOf<A> = A extends ReadonlyArray<Either.Either<infer _R, infer E>> ? E : never
type StoreFailure = { readonly [M in Method]: FailureOf<M> }[Method]

/** Every error a Store method can fail with, rebuilt as itself (`_tag`, `instanceof`, `message`). */
const errorClasses: { readonly [T in StoreFailure["_tag"]]: new (fields: Loose) => Extract<StoreFailure, { _tag: T }> } = {
  StoreError,
  StoreFull,
  GroupExists,
  GroupNotFound,
  NotMember
}

export interface EncodedError {
  readonly _tag: string
  readonly message: string
  readonly cause?: { readonly name: string; readonly message: string; readonly code?: unknown } | undefined
  readonly [field: string]: unknown
}

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** A tagged error's fields (its own enumerable ones), message and a description of its cause. */
export const encodeError = (error: unknown): EncodedError => {
  if (error instanceof Error && typeof (error as { _tag?: unknown })._tag === "string") {
    const cause = (error as { cause?: unknown }).cause
    return {
      ...(error as unknown as Record<string, unknown>),
      _tag: (error as unknown as { _tag: string })._tag,
      message: error.message,
      cause:
        cause === undefined
          ? undefined
          : { name: cause instanceof Error ? cause.name : "Error", message: describe(cause), code: (cause as { code?: unknown })?.code }
    }
  }
  return { _tag: "StoreError", message: describe(error) }
}

/** The driver error behind a StoreError comes back as an `Error` with its message and `code`. */
const decodeError = (encoded: EncodedError): StoreFailure => {
  const { _tag, cause, ...fields } = encoded
  const revivedCause =
    cause === undefined || cause === null ? undefined : Object.assign(new Error(cause.message), { name: cause.name, code: cause.code })
  const errorClass = (errorClasses as Record<string, new (fields: Loose) => StoreFailure>)[_tag]
  return errorClass === undefined
    ? new StoreError({ message: encoded.message, cause: revivedCause })
    : new errorClass(revivedCause === undefined ? fields : { ...fields, cause: revivedCause })
}

export interface EncodedDefect {
  readonly name: string
  readonly message: string
  readonly stack?: string | undefined
}

export const encodeDefect = (defect: unknown): EncodedDefect =>
  defect instanceof Error ? { name: defect.name, message: defect.message, stack: defect.stack } : { name: "Error", message: String(defect) }

/** A defect stays a defect (as in-thread): an `Error` with the worker's name, message and stack. */
const decodeDefect = (encoded: EncodedDefect): Error =>
  Object.assign(new Error(encoded.message), { name: encoded.name, stack: encoded.stack ?? encoded.message })

// ---------------------------------------------------------------------------------------------
// The wire: main → worker a request string or `{ type: "close" }`; worker → main a reply string
// or an event object.

/** Second element of a reply. */
export const Status = { value: 0, void: 1, fail: 2, die: 3 } as const

/** `[id, method, args]` (the args encoded by the route's `args` codec, if any). */
export type Request = readonly [number, Method, unknown]

export type WorkerEvent =
  | { readonly type: "ready"; readonly atOpen: Readonly<Record<string, unknown>> }
  | { readonly type: "failed"; readonly error: EncodedError }
  | { readonly type: "died"; readonly defect: EncodedDefect }
  | { readonly type: "log"; readonly level: LogLevel.Literal; readonly message: ReadonlyArray<unknown>; readonly annotations: Readonly<Record<string, unknown>> }
  | { readonly type: "closed" }

export interface WorkerData {
  /** `retention` in milliseconds: a `Duration` does not survive structured clone. */
  readonly options: SqliteStoreOptions & { readonly retention: number }
  /** The main thread's minimum log level: the worker does not even post what would be dropped. */
  readonly logLevel: LogLevel.Literal
}

/** The worker's answer to request `id`; never throws. */
export const encodeReply = (id: number, exit: Exit.Exit<unknown, unknown>, route: AnyRoute | undefined, args: Args): string => {
  try {
    if (Exit.isSuccess(exit)) {
      const value = exit.value
      if (value === undefined) return JSON.stringify([id, Status.void])
      return JSON.stringify([id, Status.value, route?.result === undefined ? value : route.result.encode(value, args)])
    }
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure)) return JSON.stringify([id, Status.fail, encodeError(failure.value)])
    const defect = Cause.dieOption(exit.cause)
    if (Option.isSome(defect)) return JSON.stringify([id, Status.die, encodeDefect(defect.value)])
    return JSON.stringify([id, Status.die, encodeDefect(new Error(`the store thread interrupted the call: ${Cause.pretty(exit.cause)}`))])
  } catch (e) {
    return JSON.stringify([id, Status.die, encodeDefect(e)])
  }
}

// ---------------------------------------------------------------------------------------------
// The main side.

/** The store thread runs only under Bun: Node's worker_threads cannot load our TypeScript. */
export const available = (): boolean => isBun()

/** How long closing waits for the thread to commit pending writes and close the file. */
const closeTimeout = Duration.seconds(10)

export interface SqliteThreadOptions extends SqliteStoreOptions {
  /** The worker's module; tests give one that wraps `StoreThreadWorker.ts` to make it misbehave. */
  readonly workerModule?: URL | undefined
}

interface Waiter {
  readonly resume: (exit: Exit.Exit<unknown, unknown>) => void
  readonly route: AnyRoute
  /** The caller's arguments: result codecs rebuild from them what did not come back. */
  readonly args: Args
}

/**
 * The Store on a worker thread over one SQLite connection. Fails like `makeSqlite` when the file
 * cannot be opened; closed with the scope after the thread committed every accepted write.
 */
export const makeSqliteThread = (options: SqliteThreadOptions): Effect.Effect<StoreShape, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const path = options.path
    const runtime = yield* Effect.runtime<never>()
    const logLevel = yield* FiberRef.get(FiberRef.currentMinimumLogLevel)
    const opened = yield* Deferred.make<Readonly<Record<string, unknown>>, StoreError>()
    const closed = yield* Deferred.make<void>()
    const waiting = new Map<number, Waiter>()
    let nextId = 0
    /** Set once no call can be answered any more; every later call fails with it. */
    let stopped: StoreError | undefined
    let closing = false

    const { workerModule, ...storeOptions } = options
    const workerData: WorkerData = {
      options: { ...storeOptions, retention: Duration.toMillis(Duration.decode(options.retention ?? defaults.retention)) },
      logLevel: logLevel._tag
    }
    const worker = yield* Effect.try({
      try: () => new Worker(workerModule ?? new URL("./StoreThreadWorker.ts", import.meta.url), { workerData }),
      catch: (e) =>
        new StoreError({
          message: `could not start the message store thread for ${path} (${describe(e)}): restart the hub; RELAY_STORE_THREAD=0 runs the store on the main thread`,
          cause: e
        })
    })

    const stop = (error: StoreError) => {
      if (stopped !== undefined) return
      stopped = error
      const calls = [...waiting.values()]
      waiting.clear()
      for (const call of calls) call.resume(Exit.fail(error))
      Deferred.unsafeDone(opened, Exit.fail(error))
      Deferred.unsafeDone(closed, Exit.void)
      worker.unref()
    }

    const died = (reason: string) => {
      if (stopped !== undefined) return
      stop(new StoreError({ message: `the message store thread for ${path} stopped: ${reason}; restart the hub` }))
      if (!closing) {
        Runtime.runFork(runtime)(Effect.logError("the message store thread stopped").pipe(Effect.annotateLogs({ store: path, reason })))
      }
    }

    const answer = (line: string) => {
      const reply = JSON.parse(line) as [number, number, unknown]
      const call = waiting.get(reply[0])
      if (call === undefined) return
      waiting.delete(reply[0])
      // Kept alive only while a call waits: an idle store must not keep the process running.
      if (waiting.size === 0) worker.unref()
      let exit: Exit.Exit<unknown, unknown>
      try {
        switch (reply[1]) {
          case Status.value:
            exit = Exit.succeed(call.route.result === undefined ? reply[2] : call.route.result.decode(reply[2], call.args))
            break
          case Status.void:
            exit = Exit.void
            break
          case Status.fail:
            exit = Exit.fail(decodeError(reply[2] as EncodedError))
            break
          default:
            exit = Exit.die(decodeDefect(reply[2] as EncodedDefect))
        }
      } catch (e) {
        exit = Exit.die(e)
      }
      call.resume(exit)
    }

    const onEvent = (event: WorkerEvent) => {
      switch (event.type) {
        case "ready":
          return Deferred.unsafeDone(opened, Exit.succeed(event.atOpen))
        case "failed":
          return Deferred.unsafeDone(opened, Exit.fail(decodeError(event.error) as StoreError))
        case "died":
          return Deferred.unsafeDone(opened, Exit.die(decodeDefect(event.defect)))
        case "closed":
          return Deferred.unsafeDone(closed, Exit.void)
        case "log":
          return Runtime.runFork(runtime)(
            Effect.logWithLevel(LogLevel.fromLiteral(event.level), ...event.message).pipe(Effect.annotateLogs(event.annotations))
          )
      }
    }

    worker.on("message", (data: unknown) => (typeof data === "string" ? answer(data) : onEvent(data as WorkerEvent)))
    worker.on("error", (error) => died(describe(error)))
    worker.on("exit", (code) => died(`it exited with code ${code}`))

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        closing = true
        if (stopped === undefined) {
          // Kept alive until the thread has committed what it accepted and closed the file (after
          // it finished opening, if that was still going on).
          worker.ref()
          worker.postMessage({ type: "close" })
          const answered = yield* Deferred.await(closed).pipe(Effect.timeout(closeTimeout), Effect.option)
          if (Option.isNone(answered)) {
            yield* Effect.logWarning("the message store thread did not close in time; stopping it").pipe(
              Effect.annotateLogs({ store: path, waited: Duration.format(closeTimeout) })
            )
          }
        }
        // What is still waiting (asked after the thread closed) gets the in-thread store's answer.
        stop(storeClosed(path))
        yield* Effect.tryPromise(() => worker.terminate()).pipe(Effect.timeout(Duration.seconds(2)), Effect.ignore)
      })
    )

    const atOpen = yield* Deferred.await(opened)
    // Listeners are added above: in Bun, adding one re-refs the worker.
    worker.unref()
    yield* Effect.logDebug("the message store runs on its own thread").pipe(Effect.annotateLogs({ store: path }))

    const request = (method: Method, args: Args, route: AnyRoute) =>
      Effect.async<unknown, unknown>((resume) => {
        if (stopped !== undefined) return resume(Exit.fail(stopped))
        let line: string
        try {
          line = JSON.stringify([nextId, method, route.args === undefined ? args : route.args.encode(args)] satisfies Request)
        } catch (e) {
          return resume(Exit.die(e))
        }
        if (waiting.size === 0) worker.ref()
        waiting.set(nextId++, { resume, route, args })
        worker.postMessage(line)
      })

    // No `Effect.fn` span per call here: the worker's store has them, and this side is the hot path.
    const service: Record<string, unknown> = {}
    for (const method of Object.keys(routes) as Array<Method>) {
      const route = routes[method] as AnyRoute
      service[method] =
        route.kind === "call"
          ? (...args: Args) => request(method, args, route)
          : route.kind === "get"
            ? request(method, [], route)
            : Effect.succeed(route.result === undefined ? atOpen[method] : route.result.decode(atOpen[method], []))
    }
    return service as unknown as StoreShape
  })

/** The durable store in a SQLite file (WAL), served by a worker thread. Bun only (see `available`). */
export const layerSqliteThread = (options: SqliteThreadOptions): Layer.Layer<Store, StoreError> =>
  Layer.scoped(Store, makeSqliteThread(options))
