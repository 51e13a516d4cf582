/**
 * The Unix socket acceptor: the transport every local session uses.
 *
 * Claiming the path: a socket file that answers a connect is a live hub (we refuse to start); one
 * that refuses is what a killed hub left behind (we unlink it). The probe-unlink-listen steps run
 * under a short-lived lock directory so two hubs starting together cannot unlink each other's fresh
 * socket; and as a last guard the hub watches its socket file and stops if it is replaced or
 * removed, so there is never a hub nobody can reach.
 */
import { Data, Duration, Effect, FiberSet, Layer, Schedule } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { Limits } from "../protocol/Limits.ts"
import { ensurePrivateDir } from "../hub/DataDir.ts"
import { Hub } from "../hub/Hub.ts"
import { HubConfig } from "../hub/HubConfig.ts"
import { fromNetSocket, logClose } from "./NetConnection.ts"

export class HubAlreadyRunning extends Data.TaggedError("HubAlreadyRunning")<{ readonly socketPath: string }> {
  override get message() {
    return `a hub is already running on ${this.socketPath}; use it, or stop it first with \`relay stop\``
  }
}

export class SocketPathError extends Data.TaggedError("SocketPathError")<{
  readonly socketPath: string
  readonly reason: string
}> {
  override get message() {
    return `cannot listen on ${this.socketPath}: ${this.reason}`
  }
}

/** Is something accepting connections on this path? */
export const probeSocket = (socketPath: string, timeout = Duration.millis(500)) =>
  Effect.async<"live" | "stale" | "absent">((resume) => {
    const socket = net.createConnection(socketPath)
    const done = (result: "live" | "stale" | "absent") => {
      socket.removeAllListeners()
      socket.on("error", () => {})
      socket.destroy()
      resume(Effect.succeed(result))
    }
    socket.once("connect", () => done("live"))
    socket.once("error", (error: NodeJS.ErrnoException) => done(error.code === "ENOENT" ? "absent" : "stale"))
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeoutTo({ duration: timeout, onTimeout: () => "live" as const, onSuccess: (r) => r }))

const lockStaleAfter = Duration.seconds(10)

/** A lock directory held only around probe → unlink → listen (milliseconds). */
const withClaimLock = <A, E, R>(socketPath: string, body: Effect.Effect<A, E, R>) => {
  const lock = `${socketPath}.lock`
  const acquire = Effect.try({
    try: () => fs.mkdirSync(lock, { mode: 0o700 }),
    catch: (error) => error as NodeJS.ErrnoException
  }).pipe(
    Effect.catchAll((error) => {
      if (error.code !== "EEXIST") return Effect.void // cannot lock (read-only dir?): listen will say why
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0)
      if (age > Duration.toMillis(lockStaleAfter)) {
        fs.rmSync(lock, { recursive: true, force: true })
      }
      return Effect.fail("held" as const)
    }),
    Effect.retry(Schedule.spaced(Duration.millis(25)).pipe(Schedule.upTo(Duration.seconds(12)))),
    Effect.orElseSucceed(() => undefined)
  )
  return Effect.acquireUseRelease(acquire, () => body, () => Effect.sync(() => fs.rmSync(lock, { recursive: true, force: true })))
}

const listen = (server: net.Server, socketPath: string) =>
  Effect.async<void, NodeJS.ErrnoException>((resume) => {
    const onError = (error: NodeJS.ErrnoException) => resume(Effect.fail(error))
    server.once("error", onError)
    server.listen(socketPath, () => {
      server.off("error", onError)
      resume(Effect.void)
    })
  })

const claimAndListen = (server: net.Server, socketPath: string) =>
  withClaimLock(
    socketPath,
    Effect.gen(function* () {
      const state = yield* probeSocket(socketPath)
      if (state === "live") return yield* new HubAlreadyRunning({ socketPath })
      if (state === "stale") {
        const stat = fs.lstatSync(socketPath, { throwIfNoEntry: false })
        if (stat !== undefined && !stat.isSocket()) {
          return yield* new SocketPathError({ socketPath, reason: "the path exists and is not a socket; remove it or set RELAY_HUB_SOCKET" })
        }
        fs.rmSync(socketPath, { force: true })
        yield* Effect.logWarning("removed a stale socket left by a hub that did not exit cleanly", { socketPath })
      }
      yield* listen(server, socketPath).pipe(
        Effect.mapError((error) =>
          error.code === "EADDRINUSE"
            ? new HubAlreadyRunning({ socketPath })
            : new SocketPathError({ socketPath, reason: error.message })
        )
      )
      fs.chmodSync(socketPath, 0o600)
      return fs.statSync(socketPath).ino
    })
  )

/** Creates the socket's directory (0700) when it is missing; an existing one is left as it is. */
const ensureSocketDir = (socketPath: string) =>
  Effect.try({
    try: () => {
      fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 })
    },
    catch: (error) => new SocketPathError({ socketPath, reason: `cannot create its directory (${String(error)})` })
  })

/** How long a client refused at the connection cap has to read its `err` before it is closed. */
const refusedGraceMillis = 2_000

/** Serves the hub on `HubConfig.socketPath` for the life of the layer. */
export const layer = Layer.scopedDiscard(
  Effect.gen(function* () {
    const hub = yield* Hub
    const config = yield* HubConfig
    const socketPath = config.socketPath
    const socketDir = path.dirname(socketPath)
    // The data directory is ours to keep private. A socket placed elsewhere (RELAY_HUB_SOCKET in
    // /tmp or $HOME) must not chmod that shared directory — on /tmp it failed and the hub did not
    // start; $HOME became 0700 — the socket file itself is 0600.
    yield* path.resolve(socketDir) === path.resolve(config.dataDir) ? ensurePrivateDir(socketDir) : ensureSocketDir(socketPath)

    const run = yield* FiberSet.makeRuntime<never>()
    const server = net.createServer({ allowHalfOpen: false, pauseOnConnect: false })
    server.on("connection", (socket) => {
      if (hub.connectionCount() >= config.maxConnections) {
        // A refused client may hang up before reading its refusal: the EPIPE of that write must not
        // become an uncaught error (it killed the hub). One that never closes is cut off.
        socket.on("error", () => {})
        socket.end(`${JSON.stringify({ type: "err", code: "bad_args", message: `the hub is at its connection cap (${config.maxConnections}); try again later` })}\n`)
        const timer = setTimeout(() => socket.destroy(), refusedGraceMillis)
        timer.unref?.()
        socket.once("close", () => clearTimeout(timer))
        return
      }
      const connection = fromNetSocket(socket, {
        transport: "unix",
        maxLineBytes: Limits.maxLineBytes,
        maxOutboundBytes: config.maxOutboundBytes
      })
      run(hub.serve(connection).pipe(Effect.zipRight(logClose(connection))))
    })

    const inode = yield* Effect.acquireRelease(claimAndListen(server, socketPath), (ino) =>
      Effect.sync(() => {
        // Stop accepting; open connections end when their sessions are interrupted right after.
        server.close()
        // Remove the socket only if it is still ours: a newer hub may own the path now.
        if (fs.statSync(socketPath, { throwIfNoEntry: false })?.ino === ino) fs.rmSync(socketPath, { force: true })
      })
    )
    yield* Effect.logInfo("listening", { transport: "unix", socketPath })

    // The last guard against two hubs on one path: whoever lost the file stops.
    const watch = Effect.suspend(() =>
      fs.statSync(socketPath, { throwIfNoEntry: false })?.ino === inode
        ? Effect.void
        : Effect.logError("the socket file was removed or replaced by another process; stopping this hub", { socketPath }).pipe(
            Effect.zipRight(hub.requestStop)
          )
    )
    yield* watch.pipe(Effect.repeat(Schedule.spaced(Duration.seconds(2))), Effect.forkScoped)
  })
)
