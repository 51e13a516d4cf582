/**
 * The hub as a library: `layer` gives a `Hub` that any transport hands its connections to.
 * Embed it by providing a `HubConfig` and (optionally) a store-backed `Messaging`; run it by adding
 * transport layers that accept connections (see `src/transport/`).
 *
 * Idle exit counts connections of every transport alike: with `idleExit` set, `awaitIdle`
 * completes once no connection has been open for that long, and a connection arriving in that
 * window cancels the countdown.
 */
import { Context, Deferred, Effect, Layer, Option, Stream, SubscriptionRef } from "effect"
import type { Connection } from "./Connection.ts"
import { HubConfig } from "./HubConfig.ts"
import * as HubInfo from "./HubInfo.ts"
import { layerUnavailable, type Messaging } from "./Messaging.ts"
import * as OpenAsks from "./OpenAsks.ts"
import * as Registry from "./Registry.ts"
import * as Rooms from "./Rooms.ts"
import { serveConnection } from "./Session.ts"

export class Hub extends Context.Tag("relay/Hub")<
  Hub,
  {
    /** Serves one connection until it ends. Never fails: protocol errors are answered on the wire. */
    readonly serve: (connection: Connection) => Effect.Effect<void>
    readonly connectionCount: () => number
    /** Completes when the idle-exit period has passed with no connection; never if it is off. */
    readonly awaitIdle: Effect.Effect<void>
    /** Asks the program running the hub to stop (as `relay stop` does). */
    readonly requestStop: Effect.Effect<void>
    readonly awaitStopRequest: Effect.Effect<void>
  }
>() {}

export const make = Effect.gen(function* () {
  const config = yield* HubConfig
  const context = yield* Effect.context<
    Registry.Registry | Rooms.Rooms | OpenAsks.OpenAsks | Messaging | HubInfo.HubInfo
  >()
  const connections = yield* SubscriptionRef.make(0)
  const idle = yield* Deferred.make<void>()
  const stop = yield* Deferred.make<void>()

  yield* Option.match(config.idleExit, {
    onNone: () => Effect.void,
    onSome: (period) =>
      connections.changes.pipe(
        // Each change restarts the countdown; only a countdown that starts at zero can finish.
        Stream.flatMap((count) => (count === 0 ? Stream.fromEffect(Effect.sleep(period)) : Stream.empty), {
          switch: true
        }),
        Stream.take(1),
        Stream.runDrain,
        Effect.zipRight(Effect.logInfo("no connection for the idle period; stopping", { idleExit: period })),
        Effect.zipRight(Deferred.succeed(idle, undefined)),
        Effect.forkScoped
      )
  })

  let count = 0
  const serve = (connection: Connection) =>
    Effect.acquireUseRelease(
      Effect.suspend(() => SubscriptionRef.set(connections, ++count)),
      () => serveConnection(connection),
      () => Effect.suspend(() => SubscriptionRef.set(connections, --count))
    ).pipe(Effect.provide(context))

  return Hub.of({
    serve,
    connectionCount: () => count,
    awaitIdle: Deferred.await(idle),
    requestStop: Deferred.succeed(stop, undefined).pipe(Effect.asVoid),
    awaitStopRequest: Deferred.await(stop)
  })
})

/** The actors every hub has; `Messaging` implementations may use them (the registry, mostly). */
const actors = Layer.mergeAll(Registry.layer, Rooms.layer, OpenAsks.layer, HubInfo.layer)

/**
 * The hub's actors and the `Hub` service, with `messaging` for direct messages and groups (it is
 * given the same registry the sessions use). Needs `HubConfig` and whatever `messaging` needs.
 */
export const layerWith = <E, R>(messaging: Layer.Layer<Messaging, E, R>) =>
  Layer.scoped(Hub, make).pipe(Layer.provideMerge(messaging), Layer.provideMerge(actors))

/** A hub without a store: rooms, broadcasts and presence; direct messages and groups are refused. */
export const layer = layerWith(layerUnavailable)
