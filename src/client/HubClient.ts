/**
 * A session's connection to the hub: one Unix socket (or another `dial`, e.g. the WebSocket
 * endpoint), NDJSON both ways.
 *
 * The client owns the connection's whole life so that callers never see it: it registers (finding a
 * free name with `-2`, `-3`, … on `name_taken`), answers the hub's liveness pings on the read path
 * itself (a busy caller must not get its session evicted), reconnects with capped, jittered backoff
 * after the hub goes away, and then re-registers under the name it had and rejoins its rooms.
 *
 * Requests are correlated by `req_id` and bounded by a timeout. While the hub is away a request
 * fails at once with `hub_unreachable`: a tool call that hangs for 30 s is worse than a clear error
 * the model can relay to the user. Only before the very first connection does a request wait a
 * little, because a session's first tool call often races the bootstrap.
 */
import * as net from "node:net"
import {
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  FiberId,
  Layer,
  Option,
  Queue,
  Ref,
  Runtime,
  Schema,
  type Scope,
  Stream,
  SubscriptionRef
} from "effect"
import { Limits, NamePattern } from "../protocol/Limits.ts"
import { LineSplitter } from "../protocol/LineCodec.ts"

/** A refusal from the hub (`code` is the hub's), or a client-side failure (`hub_unreachable`, `timeout`). */
export class HubError extends Schema.TaggedError<HubError>()("HubError", {
  code: Schema.String,
  message: Schema.String
}) {}

export const hubUnreachable = (message: string) => new HubError({ code: "hub_unreachable", message })

/** A frame from the hub, as parsed JSON; `type` is always a string. */
export type HubFrame = { readonly type: string } & Readonly<Record<string, unknown>>

/** A request frame without `req_id`: the client adds its own. */
export type HubRequest = { readonly type: string } & Readonly<Record<string, unknown>>

export type ConnectionState =
  | { readonly _tag: "Connecting"; readonly attempt: number; readonly lastError: string | undefined }
  | { readonly _tag: "Ready"; readonly name: string; readonly generation: number }
  | { readonly _tag: "Closed" }

/** One open connection as the client uses it: JSON documents out, lines in (see `Dial`). */
export interface Wire {
  /** Sends one JSON document (no newline); `false` when the connection is already closed. */
  readonly write: (json: string) => boolean
  readonly close: () => void
}

export interface WireEvents {
  /** One complete line from the hub (without its newline). */
  readonly onLine: (line: string) => void
  /** The connection is gone, whichever side closed it. Called at most once. */
  readonly onClose: () => void
}

/** Opens one connection to the hub; fails with `hub_unreachable` when it cannot. */
export type Dial = (events: WireEvents) => Effect.Effect<Wire, HubError>

/** The hub's Unix socket, NDJSON both ways. */
export const dialUnix =
  (socketPath: string): Dial =>
  (events) =>
    Effect.async<Wire, HubError>((resume) => {
      const socket = net.createConnection({ path: socketPath })
      const splitter = new LineSplitter(Limits.maxLineBytes)
      let connected = false
      const wire: Wire = {
        write: (json) => {
          if (socket.destroyed || !socket.writable) return false
          socket.write(`${json}\n`)
          return true
        },
        close: () => {
          socket.destroy()
        }
      }
      socket.on("connect", () => {
        connected = true
        resume(Effect.succeed(wire))
      })
      socket.on("data", (chunk: Buffer) => {
        const result = splitter.push(chunk)
        for (const line of result.lines) events.onLine(line)
        if (result._tag === "LineTooLong") socket.destroy()
      })
      socket.on("error", (error) => {
        if (!connected) resume(Effect.fail(hubUnreachable(`cannot connect to the hub at ${socketPath}: ${error.message}`)))
      })
      socket.on("close", () => events.onClose())
      return Effect.sync(() => socket.destroy())
    })

export interface HubClientOptions {
  /** The hub's Unix socket: dialled unless `dial` says otherwise, and named in errors. */
  readonly socketPath: string
  /** How to open a connection; default `dialUnix(socketPath)`. */
  readonly dial?: Dial | undefined
  /** The name to register; on `name_taken` the client tries `name-2`, `name-3`, … */
  readonly name: string
  readonly cwd?: string | undefined
  readonly gitBranch?: string | undefined
  /** Announced in the v6 `hello`. */
  readonly clientName?: string | undefined
  /** Run before every connection attempt, e.g. to spawn a hub when none answers. */
  readonly ensureHub?: Effect.Effect<void, HubError> | undefined
  readonly requestTimeout?: Duration.DurationInput | undefined
  /** How long a request made before the first connection waits for it. */
  readonly startupWait?: Duration.DurationInput | undefined
  readonly backoffInitial?: Duration.DurationInput | undefined
  readonly backoffMax?: Duration.DurationInput | undefined
}

export class HubClient extends Context.Tag("relay/HubClient")<
  HubClient,
  {
    /** Sends one request and waits for its reply; an `err` reply fails with the hub's code. */
    readonly request: (frame: HubRequest) => Effect.Effect<HubFrame, HubError>
    /** Frames the hub pushed unasked (`incoming_*` and the like). One consumer. */
    readonly pushes: Stream.Stream<HubFrame>
    /** The name this session is registered under now (the requested one before the first register). */
    readonly name: Effect.Effect<string>
    readonly rooms: Effect.Effect<ReadonlyArray<string>>
    readonly state: Effect.Effect<ConnectionState>
    readonly stateChanges: Stream.Stream<ConnectionState>
    /** Waits until the client is registered, failing with `hub_unreachable` after `timeout`. */
    readonly awaitReady: (timeout: Duration.DurationInput) => Effect.Effect<void, HubError>
  }
>() {}

interface Link {
  readonly id: number
  readonly write: (frame: Record<string, unknown>) => boolean
  readonly closed: Deferred.Deferred<void>
  readonly close: () => void
}

interface Pending {
  readonly linkId: number
  readonly reply: Deferred.Deferred<HubFrame, HubError>
}

/** `base`, `base-2`, `base-3`, … each cut so that the suffix still fits in a name. */
export const nameCandidate = (base: string, attempt: number): string => {
  if (attempt <= 1) return base
  const suffix = `-${attempt}`
  return `${base.slice(0, Limits.maxNameChars - suffix.length)}${suffix}`
}

const maxNameAttempts = 50

export const make = (options: HubClientOptions): Effect.Effect<Context.Tag.Service<HubClient>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const requestTimeout = Duration.decode(options.requestTimeout ?? "10 seconds")
    const startupWait = Duration.decode(options.startupWait ?? "10 seconds")
    const backoffInitial = Duration.toMillis(options.backoffInitial ?? "100 millis")
    const backoffMax = Duration.toMillis(options.backoffMax ?? "5 seconds")

    const pushes = yield* Effect.acquireRelease(Queue.unbounded<HubFrame>(), Queue.shutdown)
    const state = yield* SubscriptionRef.make<ConnectionState>({ _tag: "Connecting", attempt: 0, lastError: undefined })
    const currentLink = yield* Ref.make(Option.none<Link>())
    const name = yield* Ref.make(options.name)
    const rooms = yield* Ref.make<ReadonlySet<string>>(new Set())
    const firstReady = yield* Deferred.make<void>()
    const pending = new Map<string, Pending>()
    let nextReqId = 1
    let nextLinkId = 1
    let protocolVersion: "6" | "5" = "6"
    let closing = false

    const failPending = (linkId: number, error: HubError) => {
      for (const [reqId, entry] of pending) {
        if (entry.linkId !== linkId) continue
        pending.delete(reqId)
        Deferred.unsafeDone(entry.reply, Exit.fail(error))
      }
    }

    const onFrame = (link: Link, frame: HubFrame) => {
      const reqId = typeof frame.req_id === "string" ? frame.req_id : undefined
      if (frame.type === "ping") {
        // Answered here, on the read path: a slow consumer of pushes must not look dead to the hub.
        link.write(reqId === undefined ? { type: "pong" } : { type: "pong", req_id: reqId })
        return
      }
      if (reqId !== undefined) {
        const entry = pending.get(reqId)
        if (entry !== undefined) {
          pending.delete(reqId)
          Deferred.unsafeDone(entry.reply, Exit.succeed(frame))
        }
        // A reply to a request that already timed out: nobody is waiting any more.
        return
      }
      if (frame.type === "err") {
        runFork(Effect.logWarning("hub error without req_id", frame))
        return
      }
      Queue.unsafeOffer(pushes, frame)
      runFork(Effect.logDebug(`push received: ${frame.type}`))
    }

    const dial = options.dial ?? dialUnix(options.socketPath)
    const openLink = (id: number): Effect.Effect<Link, HubError> =>
      Effect.suspend(() => {
        const closed = Deferred.unsafeMake<void>(FiberId.none)
        let link: Link | undefined
        const early: Array<string> = []
        const onLine = (line: string) => {
          // Lines that arrive before the dial resolves belong to this link all the same.
          if (link === undefined) {
            early.push(line)
            return
          }
          let parsed: unknown
          try {
            parsed = JSON.parse(line)
          } catch {
            runFork(Effect.logWarning("hub sent a line that is not JSON; ignored"))
            return
          }
          if (typeof parsed === "object" && parsed !== null && typeof (parsed as HubFrame).type === "string") {
            onFrame(link, parsed as HubFrame)
          }
        }
        const onClose = () => {
          Deferred.unsafeDone(closed, Exit.void)
          // Requests of the handshake too: nobody else would fail them before their timeout.
          failPending(id, hubUnreachable("the connection to the hub closed before it answered"))
        }
        return dial({ onLine, onClose }).pipe(
          // A port that accepts but never completes the WebSocket upgrade must not hold the
          // reconnect loop for ever.
          Effect.timeoutFail({
            duration: requestTimeout,
            onTimeout: () => hubUnreachable(`the hub did not accept the connection within ${Duration.format(requestTimeout)}`)
          }),
          Effect.map((wire) => {
            link = {
              id,
              closed,
              write: (frame) => wire.write(JSON.stringify(frame)),
              close: wire.close
            }
            for (const line of early.splice(0)) onLine(line)
            return link
          })
        )
      })

    /** A request on a given link, used during the handshake before the link is the current one. */
    const requestOn = (link: Link, frame: HubRequest): Effect.Effect<HubFrame, HubError> =>
      Effect.suspend(() => {
        const reqId = `r${nextReqId++}`
        const reply = Deferred.unsafeMake<HubFrame, HubError>(FiberId.none)
        pending.set(reqId, { linkId: link.id, reply })
        if (!link.write({ ...frame, req_id: reqId })) {
          pending.delete(reqId)
          return Effect.fail(hubUnreachable("the connection to the hub is closed"))
        }
        return Deferred.await(reply).pipe(
          Effect.timeoutFail({
            duration: requestTimeout,
            onTimeout: () =>
              new HubError({ code: "timeout", message: `the hub did not answer '${frame.type}' within ${Duration.format(requestTimeout)}` })
          }),
          Effect.ensuring(Effect.sync(() => pending.delete(reqId))),
          Effect.flatMap((reply) =>
            reply.type === "err"
              ? Effect.fail(
                  new HubError({
                    code: typeof reply.code === "string" ? reply.code : "unexpected",
                    message: typeof reply.message === "string" ? reply.message : `the hub refused '${frame.type}'`
                  })
                )
              : Effect.succeed(reply)
          )
        )
      })

    const register = (link: Link) =>
      Effect.gen(function* () {
        const base = yield* Ref.get(name)
        for (let attempt = 1; attempt <= maxNameAttempts; attempt++) {
          const candidate = nameCandidate(base, attempt)
          const result = yield* requestOn(link, {
            type: "register",
            name: candidate,
            cwd: (options.cwd ?? "").slice(0, Limits.maxCwdChars),
            git_branch: (options.gitBranch ?? "").slice(0, Limits.maxGitBranchChars),
            protocol_version: protocolVersion
          }).pipe(Effect.either)
          if (result._tag === "Right") {
            yield* Ref.set(name, candidate)
            return candidate
          }
          if (result.left.code === "protocol_mismatch" && protocolVersion === "6") {
            // A protocol-5 hub (EcoRelay) still serves everything but the v6 extras.
            protocolVersion = "5"
            attempt--
            continue
          }
          if (result.left.code !== "name_taken") return yield* result.left
        }
        return yield* new HubError({ code: "name_taken", message: `no free name from '${base}' to '${nameCandidate(base, maxNameAttempts)}'` })
      })

    const handshake = (link: Link) =>
      Effect.gen(function* () {
        // Optional v6 greeting: an older hub refuses it, which changes nothing.
        if (protocolVersion === "6") {
          yield* requestOn(link, { type: "hello", client: options.clientName ?? "relay-client" }).pipe(Effect.ignore)
        }
        const registered = yield* register(link)
        for (const room of yield* Ref.get(rooms)) {
          yield* requestOn(link, { type: "join_room", room }).pipe(
            Effect.catchAll((error) =>
              Effect.logWarning(`could not rejoin room '${room}': ${error.code}`).pipe(
                Effect.zipRight(Ref.update(rooms, (set) => without(set, room)))
              )
            )
          )
        }
        return registered
      })

    let generation = 0
    /** Settles when the handshake in progress (if any) has ended, whichever way. */
    let handshaking: Deferred.Deferred<void> | undefined
    const connectOnce = Effect.gen(function* () {
      if (options.ensureHub !== undefined) yield* options.ensureHub
      const link = yield* openLink(nextLinkId++)
      const settled = Deferred.unsafeMake<void>(FiberId.none)
      handshaking = settled
      const registered = yield* handshake(link).pipe(
        Effect.tap(() => Ref.set(currentLink, Option.some(link))),
        Effect.onError(() => Effect.sync(link.close)),
        Effect.ensuring(
          Effect.sync(() => {
            if (handshaking === settled) handshaking = undefined
            Deferred.unsafeDone(settled, Exit.void)
          })
        )
      )
      generation++
      yield* SubscriptionRef.set(state, { _tag: "Ready", name: registered, generation })
      yield* Deferred.succeed(firstReady, undefined)
      yield* Effect.logDebug(`registered as '${registered}'`)
      yield* Deferred.await(link.closed).pipe(Effect.onInterrupt(() => Effect.sync(link.close)))
      yield* Ref.set(currentLink, Option.none())
      failPending(link.id, hubUnreachable("the connection to the hub closed before it answered"))
    })

    const supervise = Effect.gen(function* () {
      let attempt = 0
      while (!closing) {
        const exit = yield* Effect.exit(connectOnce)
        if (closing) break
        const wasReady = (yield* SubscriptionRef.get(state))._tag === "Ready"
        if (wasReady) attempt = 0
        const lastError = Exit.isFailure(exit)
          ? Exit.match(exit, { onFailure: (cause) => String(cause), onSuccess: () => undefined })
          : "the connection to the hub closed"
        attempt++
        yield* SubscriptionRef.set(state, { _tag: "Connecting", attempt, lastError })
        if (wasReady) yield* Effect.logWarning("lost the hub; reconnecting")
        const capped = Math.min(backoffMax, backoffInitial * 2 ** Math.min(attempt - 1, 16))
        // Jitter spreads the sessions of one machine so they do not all knock on a new hub at once.
        yield* Effect.sleep(Duration.millis(capped / 2 + Math.random() * (capped / 2)))
      }
    })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        closing = true
        const link = yield* Ref.get(currentLink)
        if (Option.isSome(link)) link.value.close()
        yield* SubscriptionRef.set(state, { _tag: "Closed" })
      })
    )
    yield* Effect.forkScoped(supervise)

    const currentOrFail: Effect.Effect<Link, HubError> = Effect.gen(function* () {
      const link = yield* Ref.get(currentLink)
      if (Option.isSome(link)) return link.value
      // A hub that answered is being registered with (rooms rejoined): that is not a gap. Pushes
      // arrive in this window, and their deliver_ack must not be dropped as "hub unreachable".
      const inProgress = handshaking
      if (inProgress !== undefined) {
        yield* Deferred.await(inProgress).pipe(Effect.timeout(requestTimeout), Effect.ignore)
        const registered = yield* Ref.get(currentLink)
        if (Option.isSome(registered)) return registered.value
      }
      const everReady = yield* Deferred.isDone(firstReady)
      if (!everReady) {
        yield* awaitReady(startupWait)
        const again = yield* Ref.get(currentLink)
        if (Option.isSome(again)) return again.value
      }
      const current = yield* SubscriptionRef.get(state)
      const detail = current._tag === "Connecting" && current.lastError !== undefined ? ` (${current.lastError})` : ""
      return yield* hubUnreachable(`not connected to the hub; reconnecting${detail}`)
    })

    const awaitReady = (timeout: Duration.DurationInput): Effect.Effect<void, HubError> =>
      SubscriptionRef.get(state).pipe(
        Effect.flatMap((now) =>
          now._tag === "Ready"
            ? Effect.void
            : state.changes.pipe(
                Stream.filter((s) => s._tag === "Ready"),
                Stream.take(1),
                Stream.runDrain,
                Effect.timeoutFail({
                  duration: timeout,
                  onTimeout: () => hubUnreachable(`no hub answered at ${options.socketPath} within ${Duration.format(Duration.decode(timeout))}`)
                })
              )
        )
      )

    const request = Effect.fn("HubClient.request")(function* (frame: HubRequest) {
      const link = yield* currentOrFail
      const reply = yield* requestOn(link, frame)
      // Remembered so that a reconnect restores what the session had.
      if (frame.type === "rename" && typeof frame.new_name === "string") {
        const renamed = frame.new_name.trim()
        yield* Ref.set(name, renamed)
        const now = yield* SubscriptionRef.get(state)
        if (now._tag === "Ready") yield* SubscriptionRef.set(state, { ...now, name: renamed })
      } else if (frame.type === "join_room" && typeof frame.room === "string") {
        const room = frame.room.trim()
        yield* Ref.update(rooms, (set) => new Set([...set, room]))
      } else if (frame.type === "leave_room" && typeof frame.room === "string") {
        const room = frame.room.trim()
        yield* Ref.update(rooms, (set) => without(set, room))
      }
      return reply
    })

    return HubClient.of({
      request,
      pushes: Stream.fromQueue(pushes),
      name: Ref.get(name),
      rooms: Ref.get(rooms).pipe(Effect.map((set) => [...set])),
      state: SubscriptionRef.get(state),
      stateChanges: state.changes,
      awaitReady
    })
  })

export const layer = (options: HubClientOptions): Layer.Layer<HubClient> => Layer.scoped(HubClient, make(options))

const without = (set: ReadonlySet<string>, item: string): ReadonlySet<string> => {
  const next = new Set(set)
  next.delete(item)
  return next
}

/** True when `name` is a valid peer name as the hub checks it. */
export const isValidName = (name: string): boolean => NamePattern.test(name)
