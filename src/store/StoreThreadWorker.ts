/**
 * The worker thread of `StoreThread.ts`: opens the in-thread store (`makeSqlite`) in its own
 * runtime and scope, answers `ready` (or why not), then serves each request by calling that
 * method and replying with its encoded `Exit`. Requests arriving together reach the store's group
 * commit together, so they still commit in one transaction. Logs go to the main thread, which
 * writes them with its own logger.
 */
import { Cause, Effect, Exit, Fiber, HashMap, Layer, Logger, LogLevel, Runtime, Scope } from "effect"
import { parentPort, workerData } from "node:worker_threads"
import { makeSqlite } from "./SqliteStore.ts"
import type { StoreShape } from "./Store.ts"
import {
  type AnyRoute,
  encodeDefect,
  encodeError,
  encodeReply,
  type Request,
  routes,
  undefinedForNull,
  type WorkerData,
  type WorkerEvent
} from "./StoreThread.ts"

const port = parentPort
if (port === null) throw new Error("StoreThreadWorker.ts runs as the worker thread of StoreThread.ts")
const { options, logLevel } = workerData as WorkerData

const post = (event: WorkerEvent) => port.postMessage(event)

/** Whatever a log carries that cannot be cloned goes as text. */
const cloneable = (value: unknown): unknown => {
  try {
    return structuredClone(value)
  } catch {
    return String(value)
  }
}

const forward = Logger.make<unknown, void>(({ annotations, cause, logLevel, message }) => {
  const parts = Array.isArray(message) ? message : [message]
  post({
    type: "log",
    level: logLevel._tag,
    message: (Cause.isEmpty(cause) ? parts : [...parts, Cause.pretty(cause)]).map(cloneable),
    annotations: Object.fromEntries(Array.from(HashMap.toEntries(annotations), ([key, value]) => [key, cloneable(value)]))
  })
})

const scope = Effect.runSync(Scope.make())
const runtime = Effect.runSync(
  Layer.toRuntime(
    Layer.merge(Logger.replace(Logger.defaultLogger, forward), Logger.minimumLogLevel(LogLevel.fromLiteral(logLevel)))
  ).pipe(Scope.extend(scope))
)

let store: StoreShape | undefined

/** Opens the store; the values fixed at open go with `ready`. */
const opening = Runtime.runFork(runtime)(
  Effect.gen(function* () {
    const opened = yield* makeSqlite(options).pipe(Scope.extend(scope))
    const atOpen: Record<string, unknown> = {}
    for (const [method, route] of Object.entries(routes) as Array<[keyof StoreShape, AnyRoute]>) {
      if (route.kind !== "atOpen") continue
      const value: unknown = yield* opened[method] as Effect.Effect<unknown>
      atOpen[method] = route.result === undefined ? value : route.result.encode(value, [])
    }
    store = opened
    return atOpen
  })
)
opening.addObserver((exit) => {
  if (Exit.isSuccess(exit)) return post({ type: "ready", atOpen: exit.value })
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "Some") return post({ type: "failed", error: encodeError(failure.value) })
  post({ type: "died", defect: encodeDefect(Cause.squash(exit.cause)) })
})

const serve = (line: string) => {
  const [id, method, json] = JSON.parse(line) as Request
  const route = routes[method] as AnyRoute | undefined
  let args: Array<unknown> = []
  let effect: Effect.Effect<unknown, unknown>
  try {
    if (store === undefined) throw new Error("the store thread got a request before the store was open")
    if (route === undefined || route.kind === "atOpen") throw new Error(`the store thread cannot serve ${String(method)}`)
    const member = store[method] as unknown
    if (route.kind === "get") effect = member as Effect.Effect<unknown, unknown>
    else {
      args = route.args === undefined ? undefinedForNull(json as Array<unknown>) : route.args.decode(json)
      effect = (member as (...args: Array<unknown>) => Effect.Effect<unknown, unknown>)(...args)
    }
  } catch (e) {
    port.postMessage(encodeReply(id, Exit.die(e), route, args))
    return
  }
  Runtime.runCallback(runtime)(effect, { onExit: (exit) => port.postMessage(encodeReply(id, exit, route, args)) })
}

/** After opening ended: the store's scope closes (pending writes commit), then `closed`. */
const close = () =>
  Runtime.runCallback(runtime)(Effect.zipRight(Fiber.await(opening), Scope.close(scope, Exit.void)), {
    onExit: () => post({ type: "closed" })
  })

port.on("message", (data: unknown) => {
  if (typeof data === "string") serve(data)
  else if ((data as { type?: unknown }).type === "close") close()
})
