/**
 * The peer registry: which session holds which name, and whether it is still alive.
 *
 * One actor owns the name table, so registration, rename, the name-collision probe and the liveness
 * sweep never race each other. Reads (`lookup`, `list`) see the actor's current table directly:
 * the table is only ever changed by the actor, and JavaScript runs one fiber step at a time.
 *
 * Liveness is "any frame since we asked": a peer answers a probe or a sweep by sending anything
 * (normally the `pong`), recorded in `Peer.lastSeen` by its session.
 */
import { Clock, Context, Deferred, Duration, Effect, Layer } from "effect"
import { type RequestError, requestError } from "../protocol/ErrorCode.ts"
import * as Actor from "./Actor.ts"
import type { Connection } from "./Connection.ts"
import { HubConfig } from "./HubConfig.ts"
import { Peer } from "./Peer.ts"

export interface RegisterRequest {
  readonly connection: Connection
  readonly name: string
  readonly cwd: string
  readonly gitBranch: string
  readonly protocolVersion: "5" | "6"
}

export class Registry extends Context.Tag("relay/Registry")<
  Registry,
  {
    /** Claims a name. A name held by a live peer fails `name_taken`; a silent holder is evicted. */
    readonly register: (request: RegisterRequest) => Effect.Effect<Peer, RequestError>
    readonly rename: (peer: Peer, newName: string) => Effect.Effect<void, RequestError>
    /** Idempotent; a peer already evicted or replaced is left alone. */
    readonly unregister: (peer: Peer) => Effect.Effect<void>
    /** A sign of life from the peer: any frame counts. */
    readonly seen: (peer: Peer) => Effect.Effect<void>
    readonly lookup: (name: string) => Peer | undefined
    readonly list: () => ReadonlyArray<Peer>
    /** Runs one liveness sweep now (the scheduled sweep calls the same thing). */
    readonly sweep: Effect.Effect<void>
  }
>() {}

type Command =
  | { readonly _tag: "Register"; readonly request: RegisterRequest; readonly reply: Deferred.Deferred<Peer, RequestError> }
  | { readonly _tag: "Rename"; readonly peer: Peer; readonly newName: string; readonly reply: Deferred.Deferred<void, RequestError> }
  | { readonly _tag: "Unregister"; readonly peer: Peer }
  | { readonly _tag: "ProbeAnswered"; readonly holder: Peer }
  | { readonly _tag: "ProbeExpired"; readonly name: string; readonly probeId: number }
  | { readonly _tag: "Sweep" }
  | { readonly _tag: "SweepExpired"; readonly sweepId: number }

interface Probe {
  readonly id: number
  readonly holder: Peer
  readonly sentAt: number
  readonly challenger: RegisterRequest
  readonly reply: Deferred.Deferred<Peer, RequestError>
}

interface Sweep {
  readonly id: number
  readonly sentAt: number
  readonly pinged: ReadonlyArray<Peer>
}

export const make = Effect.gen(function* () {
  const config = yield* HubConfig
  const byName = new Map<string, Peer>()
  const probes = new Map<string, Probe>()
  const sweeps = new Map<number, Sweep>()
  let nextProbeId = 1
  let nextSweepId = 1

  const nameTaken = (name: string) =>
    requestError(
      "name_taken",
      `the name '${name}' is held by a live session; pick another name (or rename that session first)`
    )

  const hubFull = () =>
    requestError("bad_args", `this hub is full (${config.maxPeers} peers); try again when a session leaves`)

  const claim = (request: RegisterRequest, now: number): Peer => {
    const peer = new Peer(request.connection, request.name, request.cwd, request.gitBranch, request.protocolVersion, now)
    byName.set(peer.name, peer)
    return peer
  }

  const evict = (peer: Peer, why: string) =>
    Effect.gen(function* () {
      if (byName.get(peer.name) === peer) byName.delete(peer.name)
      peer.probePending = false
      peer.close(why)
      yield* Effect.logWarning("peer evicted").pipe(
        Effect.annotateLogs({ peer: peer.name, transport: peer.transport, reason: why })
      )
      // Evicted while being probed (by the sweep): the challenger who asked first gets the name now.
      const probe = probes.get(peer.name)
      if (probe !== undefined && probe.holder === peer) {
        probes.delete(peer.name)
        yield* grantAfterProbe(probe)
      }
    })

  // Probe and sweep deadlines are forked into the registry's own scope: they end with it.
  const scope = yield* Effect.scope

  const startTimer = (duration: Duration.Duration, then: Command) =>
    Effect.sleep(duration).pipe(
      Effect.zipRight(Effect.suspend(() => actor.tell(then))),
      Effect.forkIn(scope),
      Effect.asVoid
    )

  const receive = (_: void, command: Command): Effect.Effect<void> => {
    switch (command._tag) {
      case "Register":
        return Effect.gen(function* () {
          const { request, reply } = command
          const now = yield* Clock.currentTimeMillis
          if (!request.connection.isOpen()) {
            yield* Deferred.fail(reply, requestError("peer_gone", "the connection closed before registration finished"))
            return
          }
          const holder = byName.get(request.name)
          if (holder === undefined) {
            if (byName.size >= config.maxPeers) {
              yield* Deferred.fail(reply, hubFull())
              return
            }
            yield* Deferred.succeed(reply, claim(request, now))
            return
          }
          if (!holder.isOpen()) {
            byName.delete(holder.name)
            yield* Deferred.succeed(reply, claim(request, now))
            return
          }
          if (probes.has(request.name)) {
            yield* Deferred.fail(reply, nameTaken(request.name))
            return
          }
          const probe: Probe = { id: nextProbeId++, holder, sentAt: now, challenger: request, reply }
          probes.set(request.name, probe)
          holder.probePending = true
          holder.send({ type: "ping", req_id: `probe-${probe.id}` })
          yield* startTimer(config.probeTimeout, { _tag: "ProbeExpired", name: request.name, probeId: probe.id })
        })

      case "ProbeAnswered":
        return Effect.gen(function* () {
          const probe = probes.get(command.holder.name)
          if (probe === undefined || probe.holder !== command.holder) return
          if (command.holder.lastSeen < probe.sentAt) return
          probes.delete(command.holder.name)
          command.holder.probePending = false
          yield* Deferred.fail(probe.reply, nameTaken(command.holder.name))
        })

      case "ProbeExpired":
        return Effect.gen(function* () {
          const probe = probes.get(command.name)
          if (probe === undefined || probe.id !== command.probeId) return
          probes.delete(command.name)
          const { holder } = probe
          if (holder.lastSeen >= probe.sentAt && holder.isOpen() && byName.get(command.name) === holder) {
            holder.probePending = false
            yield* Deferred.fail(probe.reply, nameTaken(command.name))
            return
          }
          if (byName.get(command.name) === holder) {
            yield* evict(holder, `did not answer the name-collision probe within ${Duration.format(config.probeTimeout)}`)
          }
          yield* grantAfterProbe(probe)
        })

      case "Rename":
        return Effect.gen(function* () {
          const { peer, newName, reply } = command
          if (byName.get(peer.name) !== peer) {
            yield* Deferred.fail(reply, requestError("not_registered", "this session is no longer registered; register again"))
            return
          }
          if (newName === peer.name) {
            yield* Deferred.succeed(reply, undefined)
            return
          }
          const holder = byName.get(newName)
          if ((holder !== undefined && holder.isOpen()) || probes.has(newName)) {
            yield* Deferred.fail(reply, nameTaken(newName))
            return
          }
          byName.delete(peer.name)
          peer.name = newName
          byName.set(newName, peer)
          yield* Deferred.succeed(reply, undefined)
        })

      case "Unregister":
        return Effect.gen(function* () {
          const { peer } = command
          if (byName.get(peer.name) === peer) byName.delete(peer.name)
          const probe = probes.get(peer.name)
          if (probe !== undefined && probe.holder === peer) {
            // The holder left while being probed: the challenger gets the name now, not in 500 ms.
            probes.delete(peer.name)
            yield* grantAfterProbe(probe)
          }
        })

      case "Sweep":
        return Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const sweep: Sweep = { id: nextSweepId++, sentAt: now, pinged: [...byName.values()] }
          if (sweep.pinged.length === 0) return
          sweeps.set(sweep.id, sweep)
          const ping = { type: "ping", req_id: `sweep-${sweep.id}` }
          for (const peer of sweep.pinged) peer.send(ping)
          yield* startTimer(config.sweepTimeout, { _tag: "SweepExpired", sweepId: sweep.id })
        })

      case "SweepExpired":
        return Effect.gen(function* () {
          const sweep = sweeps.get(command.sweepId)
          if (sweep === undefined) return
          sweeps.delete(command.sweepId)
          for (const peer of sweep.pinged) {
            if (byName.get(peer.name) === peer && peer.lastSeen < sweep.sentAt) {
              yield* evict(peer, `did not answer the liveness ping within ${Duration.format(config.sweepTimeout)}`)
            }
          }
        })
    }
  }

  const grantAfterProbe = (probe: Probe) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (!probe.challenger.connection.isOpen()) {
        yield* Deferred.fail(probe.reply, requestError("peer_gone", "the connection closed before registration finished"))
        return
      }
      const current = byName.get(probe.challenger.name)
      if (current !== undefined && current.isOpen()) {
        yield* Deferred.fail(probe.reply, nameTaken(probe.challenger.name))
        return
      }
      if (current === undefined && byName.size >= config.maxPeers) {
        yield* Deferred.fail(probe.reply, hubFull())
        return
      }
      yield* Deferred.succeed(probe.reply, claim(probe.challenger, now))
    })

  const actor: Actor.Actor<Command> = yield* Actor.make<void, Command>({
    name: "registry",
    initial: undefined,
    receive
  })

  const sweep = actor.tell({ _tag: "Sweep" })
  yield* Effect.sleep(config.sweepInterval).pipe(Effect.zipRight(sweep), Effect.forever, Effect.forkScoped)

  return Registry.of({
    register: Effect.fn("Registry.register")(function* (request: RegisterRequest) {
      return yield* actor.ask<Peer, RequestError>((reply) => ({ _tag: "Register", request, reply }))
    }),
    rename: Effect.fn("Registry.rename")(function* (peer: Peer, newName: string) {
      return yield* actor.ask<void, RequestError>((reply) => ({ _tag: "Rename", peer, newName, reply }))
    }),
    unregister: (peer) => actor.tell({ _tag: "Unregister", peer }),
    seen: (peer) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        peer.lastSeen = now
        return peer.probePending ? actor.tell({ _tag: "ProbeAnswered", holder: peer }) : Effect.void
      }),
    lookup: (name) => byName.get(name),
    list: () => [...byName.values()],
    sweep
  })
})

export const layer = Layer.scoped(Registry, make)
