/**
 * Model-based property test of the peer registry (issue 2).
 *
 * Random command sequences (register, crash, stop/resume answering pings, heartbeat, rename, clock
 * advances across the probe and sweep boundaries) run against the real registry actor on the
 * TestClock, with fake connections and the test playing each session. After every command the
 * registry is compared with a small model that states the liveness rules directly:
 *
 * - a name is held by at most one peer; the table `registry.list()` equals the model's name → holder;
 * - a holder is evicted (its connection closed by the hub, once) EXACTLY when it showed no sign of
 *   life in [ping, ping + timeout) after a name-collision probe (500 ms) or a sweep ping (1 s);
 * - any frame is a sign of life; registering counts as one, so does a rename (a real session's
 *   rename frame passes through `seen` first);
 * - a challenger gets `name_taken` as soon as a probed holder answers (or at the deadline if the
 *   holder's last sign of life is no older than the probe), the name when the holder is evicted or
 *   leaves, `peer_gone` if it hung up meanwhile, and `name_taken` at once while another probe for
 *   that name is in flight;
 * - the hub sends pings only where the model expects them (probe to the holder, sweep to all).
 *
 * Clock: the test steps the TestClock to every instant where something is due (registry sleeps,
 * model deadlines, delayed pong answers), so a "pong after d ms" happens at exactly that instant.
 * At one instant, the registry's timers run before anything a peer does, so a sign of life at the
 * deadline itself is too late. Among timers due at the same instant, probe deadlines are handled
 * before the sweep (the TestClock wakes the most recently started sleep first, and a probe's sleep
 * is always started after the sweep's): the model follows that order.
 */
import { Chunk, Duration, Effect, Exit, FastCheck as fc, Layer, Logger, TestClock, TestContext } from "effect"
import { describe, expect, it } from "@effect/vitest"
import { HubConfig } from "../../src/hub/HubConfig.ts"
import type { Peer } from "../../src/hub/Peer.ts"
import * as Registry from "../../src/hub/Registry.ts"
import type { RequestError } from "../../src/protocol/ErrorCode.ts"
import { FakeConnection } from "./support/FakeConnection.ts"

const PROBE_MS = 500
const SWEEP_INTERVAL_MS = 30_000
const SWEEP_TIMEOUT_MS = 1_000

const ConfigLive = HubConfig.layer({
  dataDir: "/nonexistent/relay-registry-model",
  probeTimeout: Duration.millis(PROBE_MS),
  sweepInterval: Duration.millis(SWEEP_INTERVAL_MS),
  sweepTimeout: Duration.millis(SWEEP_TIMEOUT_MS)
})
const RegistryLive = Registry.layer.pipe(Layer.provide(ConfigLive))
/** What `it.effect` provides, for the runs fast-check drives itself. */
const TestEnv = TestContext.TestContext.pipe(Layer.provide(Logger.remove(Logger.defaultLogger)))

// ---------------------------------------------------------------------------------------------
// Commands

type Mode =
  | { readonly kind: "immediate" }
  | { readonly kind: "delayed"; readonly ms: number }
  | { readonly kind: "silent" }

type Command =
  | { readonly t: "register"; readonly name: string; readonly mode: Mode }
  | { readonly t: "crash"; readonly who: number }
  | { readonly t: "crashProbed"; readonly who: number }
  | { readonly t: "stopAnswering"; readonly who: number }
  | { readonly t: "answerAgain"; readonly who: number; readonly mode: Mode }
  | { readonly t: "heartbeat"; readonly who: number }
  | { readonly t: "rename"; readonly who: number; readonly name: string }
  | { readonly t: "renameAfterEviction"; readonly who: number; readonly name: string }
  | { readonly t: "sweepNow" }
  | { readonly t: "advance"; readonly ms: number }

const nameArb = fc.constantFrom("a", "b", "c")
const answeringArb: fc.Arbitrary<Mode> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "immediate" as const }) },
  // Below the sweep timeout; from 500 ms on it is too slow for a probe but fine for a sweep.
  { weight: 2, arbitrary: fc.integer({ min: 1, max: SWEEP_TIMEOUT_MS - 1 }).map((ms) => ({ kind: "delayed" as const, ms })) }
)
const modeArb: fc.Arbitrary<Mode> = fc.oneof(
  { weight: 4, arbitrary: answeringArb },
  { weight: 1, arbitrary: fc.constant({ kind: "silent" as const }) }
)
const whoArb = fc.nat({ max: 7 })
const advanceArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 1_200 }) },
  { weight: 2, arbitrary: fc.constantFrom(1, PROBE_MS - 1, PROBE_MS, PROBE_MS + 1, SWEEP_TIMEOUT_MS - 1, SWEEP_TIMEOUT_MS, SWEEP_TIMEOUT_MS + 1) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: SWEEP_INTERVAL_MS + 1_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(SWEEP_INTERVAL_MS - 1_000, SWEEP_INTERVAL_MS - PROBE_MS, SWEEP_INTERVAL_MS) }
)

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant("register" as const), name: nameArb, mode: modeArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("crash" as const), who: whoArb }) },
  // A holder that was just probed hangs up: rare by chance, and the path that hands the name over early.
  { weight: 1, arbitrary: fc.record({ t: fc.constant("crashProbed" as const), who: whoArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("stopAnswering" as const), who: whoArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("answerAgain" as const), who: whoArb, mode: answeringArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("heartbeat" as const), who: whoArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("rename" as const), who: whoArb, name: nameArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("renameAfterEviction" as const), who: whoArb, name: nameArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("sweepNow" as const) }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant("advance" as const), ms: advanceArb }) }
)

// ---------------------------------------------------------------------------------------------
// The model

type Outcome = "pending" | "ack" | "name_taken" | "peer_gone"
type RenameOutcome = "ok" | "name_taken" | "not_registered"

interface ModelProbe {
  readonly name: string
  readonly holder: number
  readonly challenger: number
  readonly sentAt: number
}

interface ModelSweep {
  readonly sentAt: number
  readonly pinged: ReadonlyArray<number>
}

/** Counts of the interesting events, over all runs: the generator must actually reach them. */
const coverage = {
  probeEvictions: 0,
  sweepEvictions: 0,
  probeAnswered: 0,
  grantedAfterHolderLeft: 0,
  takenWhileProbing: 0,
  survivedSweepByAnswering: 0,
  renamed: 0
}

class Model {
  now = 0
  /** name → connection id of the holder */
  readonly holders = new Map<string, number>()
  readonly lastLife = new Map<number, number>()
  readonly open = new Set<number>()
  readonly evicted = new Set<number>()
  readonly probes = new Map<string, ModelProbe>()
  sweeps: Array<ModelSweep> = []
  nextSweepAt = SWEEP_INTERVAL_MS
  readonly outcomes = new Map<number, Outcome>()
  /** connection id → expected pings, as `kind@instant` */
  readonly pings = new Map<number, Array<string>>()

  nameOf(connection: number): string | undefined {
    for (const [name, holder] of this.holders) if (holder === connection) return name
    return undefined
  }

  /** The earliest instant at which the model expects the registry to act on its own. */
  nextDeadline(): number {
    let next = this.nextSweepAt
    for (const probe of this.probes.values()) next = Math.min(next, probe.sentAt + PROBE_MS)
    for (const sweep of this.sweeps) next = Math.min(next, sweep.sentAt + SWEEP_TIMEOUT_MS)
    return next
  }

  advanceTo(instant: number): void {
    for (;;) {
      // Same instant: probe deadlines, then sweep deadlines, then the sweep (see the header).
      const at = this.nextDeadline()
      if (at > instant) break
      const probe = [...this.probes.values()].find((p) => p.sentAt + PROBE_MS === at)
      const sweep = this.sweeps.find((s) => s.sentAt + SWEEP_TIMEOUT_MS === at)
      this.now = at
      if (probe !== undefined) this.probeExpired(probe)
      else if (sweep !== undefined) this.sweepExpired(sweep)
      else {
        this.nextSweepAt += SWEEP_INTERVAL_MS
        this.sweep()
      }
    }
    this.now = instant
  }

  register(connection: number, name: string): void {
    this.open.add(connection)
    const holder = this.holders.get(name)
    if (holder === undefined) return this.claim(name, connection)
    if (this.probes.has(name)) {
      coverage.takenWhileProbing++
      this.outcomes.set(connection, "name_taken")
      return
    }
    this.probes.set(name, { name, holder, challenger: connection, sentAt: this.now })
    this.ping(holder, "probe")
    this.outcomes.set(connection, "pending")
  }

  /** Any frame from a registered peer. */
  life(connection: number): void {
    const name = this.nameOf(connection)
    if (name === undefined) return
    this.lastLife.set(connection, this.now)
    const probe = this.probes.get(name)
    if (probe !== undefined && probe.holder === connection) {
      this.probes.delete(name)
      coverage.probeAnswered++
      this.outcomes.set(probe.challenger, "name_taken")
    }
  }

  crash(connection: number): void {
    if (this.open.has(connection)) this.leave(connection)
  }

  rename(connection: number, newName: string): RenameOutcome {
    const name = this.nameOf(connection)
    if (name === undefined) return "not_registered"
    if (newName === name) return "ok"
    if (this.holders.has(newName) || this.probes.has(newName)) return "name_taken"
    this.holders.delete(name)
    this.holders.set(newName, connection)
    coverage.renamed++
    return "ok"
  }

  private claim(name: string, connection: number): void {
    this.holders.set(name, connection)
    this.lastLife.set(connection, this.now)
    this.outcomes.set(connection, "ack")
  }

  private ping(connection: number, kind: "probe" | "sweep"): void {
    const list = this.pings.get(connection) ?? []
    list.push(`${kind}@${this.now}`)
    this.pings.set(connection, list)
  }

  /** The connection is gone (hung up or evicted): its name is free, a challenger waiting on it gets it. */
  private leave(connection: number): void {
    this.open.delete(connection)
    const name = this.nameOf(connection)
    if (name === undefined) return
    this.holders.delete(name)
    const probe = this.probes.get(name)
    if (probe !== undefined && probe.holder === connection) {
      this.probes.delete(name)
      coverage.grantedAfterHolderLeft++
      this.grant(probe)
    }
  }

  private evict(connection: number): void {
    this.evicted.add(connection)
    this.leave(connection)
  }

  private grant(probe: ModelProbe): void {
    if (!this.open.has(probe.challenger)) this.outcomes.set(probe.challenger, "peer_gone")
    else if (this.holders.has(probe.name)) this.outcomes.set(probe.challenger, "name_taken")
    else this.claim(probe.name, probe.challenger)
  }

  private probeExpired(probe: ModelProbe): void {
    this.probes.delete(probe.name)
    if ((this.lastLife.get(probe.holder) ?? -1) >= probe.sentAt) {
      this.outcomes.set(probe.challenger, "name_taken")
      return
    }
    coverage.probeEvictions++
    this.evict(probe.holder)
    this.grant(probe)
  }

  /** The scheduled sweep, or one asked for with `registry.sweep`. */
  sweep(): void {
    const sentAt = this.now
    const pinged = [...this.holders.values()]
    if (pinged.length === 0) return
    for (const connection of pinged) this.ping(connection, "sweep")
    this.sweeps.push({ sentAt, pinged })
  }

  private sweepExpired(sweep: ModelSweep): void {
    this.sweeps = this.sweeps.filter((s) => s !== sweep)
    for (const connection of sweep.pinged) {
      if (this.nameOf(connection) === undefined) continue
      const lastLife = this.lastLife.get(connection) ?? -1
      if (lastLife < sweep.sentAt) {
        coverage.sweepEvictions++
        this.evict(connection)
      } else if (lastLife > sweep.sentAt) {
        coverage.survivedSweepByAnswering++
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The harness: plays the sessions against the real registry

interface Session {
  readonly connection: FakeConnection
  readonly name: string
  mode: Mode
  /** Bumped when the peer stops answering: pongs it had scheduled are never sent. */
  epoch: number
  peer: Peer | undefined
  result: Exit.Exit<Peer, RequestError> | undefined
  unregistered: boolean
  linesRead: number
  /** Pings actually received, as `kind@instant`. */
  readonly pings: Array<string>
}

interface ScheduledAnswer {
  readonly at: number
  readonly session: Session
  readonly epoch: number
}

const outcomeOf = (session: Session): Outcome => {
  if (session.result === undefined) return "pending"
  if (Exit.isSuccess(session.result)) return "ack"
  const failure = session.result.cause
  if (failure._tag === "Fail" && (failure.error.code === "name_taken" || failure.error.code === "peer_gone")) {
    return failure.error.code
  }
  throw new Error(`register ended unexpectedly: ${JSON.stringify(session.result)}`)
}

const renameOutcomeOf = (exit: Exit.Exit<void, RequestError>): string =>
  Exit.isSuccess(exit) ? "ok" : exit.cause._tag === "Fail" ? exit.cause.error.code : `defect: ${String(exit.cause)}`

const runScenario = (commands: ReadonlyArray<Command>) =>
  Effect.gen(function* () {
    const registry = yield* Registry.Registry
    const model = new Model()
    const sessions: Array<Session> = []
    let answers: Array<ScheduledAnswer> = []
    let now = 0
    let nextId = 1
    let step = "start"

    // An `ask` that fails before touching any state: once it is answered, everything queued
    // before it has been handled.
    const barrierConnection = FakeConnection.closed(0)
    const barrier = registry
      .register({ connection: barrierConnection, name: "barrier", cwd: "", gitBranch: "", protocolVersion: "6" })
      .pipe(
        Effect.flip,
        Effect.flatMap((e) => (e.code === "peer_gone" ? Effect.void : Effect.dieMessage(`barrier got ${e.code}`)))
      )

    const showLife = (session: Session) =>
      Effect.gen(function* () {
        if (!session.connection.isOpen() || session.peer === undefined) return
        yield* registry.seen(session.peer)
        model.life(session.connection.id)
      })

    /** Lets the registry finish, then does what the sessions would: give evicted names back, answer pings. */
    const settle = Effect.gen(function* () {
      for (;;) {
        yield* barrier
        let changed = false
        for (const session of sessions) {
          if (session.peer === undefined && session.result !== undefined && Exit.isSuccess(session.result)) {
            session.peer = session.result.value
          }
          // A session whose connection ended gives its name back (Session.ts cleanup).
          if (!session.connection.isOpen() && session.peer !== undefined && !session.unregistered) {
            session.unregistered = true
            yield* registry.unregister(session.peer)
            changed = true
          }
        }
        const immediate: Array<Session> = []
        for (const session of sessions) {
          while (session.linesRead < session.connection.sent.length) {
            const line = session.connection.sent[session.linesRead++]!
            const frame = JSON.parse(line) as { type: string; req_id?: string }
            if (frame.type !== "ping") {
              session.pings.push(`unexpected ${line}`)
              continue
            }
            session.pings.push(`${String(frame.req_id).split("-")[0]}@${now}`)
            if (session.mode.kind === "immediate") immediate.push(session)
            else if (session.mode.kind === "delayed") {
              answers.push({ at: now + session.mode.ms, session, epoch: session.epoch })
            }
          }
        }
        for (const session of immediate) {
          yield* showLife(session)
          changed = true
        }
        if (!changed) return
      }
    })

    const check = () => {
      const where = `${step} (t=${now} ms)`
      const table = registry
        .list()
        .map((peer) => [peer.name, peer.connection.id] as const)
        .sort()
      expect(table, `name table ${where}`).toEqual([...model.holders.entries()].sort())
      for (const [name, id] of model.holders) expect(registry.lookup(name)?.connection.id, `lookup ${where}`).toBe(id)
      const evicted = sessions.filter((s) => s.connection.hubCloses.length > 0).map((s) => s.connection.id)
      expect(evicted, `evicted connections ${where}`).toEqual([...model.evicted].sort((x, y) => x - y))
      for (const session of sessions) {
        expect(session.connection.hubCloses.length, `hub closes of #${session.connection.id} ${where}`).toBeLessThanOrEqual(1)
      }
      const outcomes = sessions.map((s) => `#${s.connection.id} ${outcomeOf(s)}`)
      expect(outcomes, `register outcomes ${where}`).toEqual(
        sessions.map((s) => `#${s.connection.id} ${model.outcomes.get(s.connection.id)}`)
      )
      for (const session of sessions) {
        if (session.result !== undefined && Exit.isSuccess(session.result)) {
          expect(session.result.value.connection, `granted peer ${where}`).toBe(session.connection)
        }
      }
      const pings = sessions.map((s) => `#${s.connection.id} ${s.pings.join(" ")}`)
      expect(pings, `pings ${where}`).toEqual(
        sessions.map((s) => `#${s.connection.id} ${(model.pings.get(s.connection.id) ?? []).join(" ")}`)
      )
    }

    const pick = (who: number, candidates: ReadonlyArray<Session>) =>
      candidates.length === 0 ? undefined : candidates[who % candidates.length]
    const openSessions = () => sessions.filter((s) => s.connection.isOpen())
    const registeredSessions = () => sessions.filter((s) => s.connection.isOpen() && s.peer !== undefined)

    const advance = (ms: number) =>
      Effect.gen(function* () {
        const target = now + ms
        for (;;) {
          const sleeps = Chunk.toReadonlyArray(yield* TestClock.sleeps()).filter((at) => at > now)
          const next = Math.min(target, model.nextDeadline(), ...sleeps, ...answers.map((a) => a.at))
          if (next > now) {
            yield* TestClock.adjust(Duration.millis(next - now))
            now = next
          }
          model.advanceTo(now)
          yield* settle
          const due = answers.filter((a) => a.at <= now)
          answers = answers.filter((a) => a.at > now)
          for (const answer of due) if (answer.epoch === answer.session.epoch) yield* showLife(answer.session)
          if (due.length > 0) yield* settle
          check()
          if (now >= target) return
        }
      })

    const run = (command: Command) =>
      Effect.gen(function* () {
        switch (command.t) {
          case "register": {
            const connection = new FakeConnection(nextId++)
            const session: Session = {
              connection,
              name: command.name,
              mode: command.mode,
              epoch: 0,
              peer: undefined,
              result: undefined,
              unregistered: false,
              linesRead: 0,
              pings: []
            }
            sessions.push(session)
            model.register(connection.id, command.name)
            yield* registry
              .register({ connection, name: command.name, cwd: "/w", gitBranch: "main", protocolVersion: "6" })
              .pipe(
                Effect.exit,
                Effect.flatMap((exit) => Effect.sync(() => (session.result = exit))),
                Effect.fork
              )
            // The forked register must reach the actor's queue before the barrier does.
            yield* Effect.yieldNow()
            return
          }
          case "crash":
          case "crashProbed": {
            const candidates = command.t === "crash"
              ? openSessions()
              : openSessions().filter((s) => s.pings.at(-1)?.startsWith("probe@"))
            const session = pick(command.who, candidates)
            if (session === undefined) return
            session.connection.hangUp()
            model.crash(session.connection.id)
            if (session.peer !== undefined) {
              session.unregistered = true
              yield* registry.unregister(session.peer)
            }
            return
          }
          case "stopAnswering": {
            const session = pick(command.who, openSessions())
            if (session === undefined) return
            session.mode = { kind: "silent" }
            session.epoch++
            return
          }
          case "answerAgain": {
            const session = pick(command.who, openSessions())
            if (session !== undefined) session.mode = command.mode
            return
          }
          case "heartbeat": {
            const session = pick(command.who, registeredSessions())
            if (session !== undefined) yield* showLife(session)
            return
          }
          case "rename": {
            const session = pick(command.who, registeredSessions())
            if (session === undefined) return
            // The rename frame itself is a sign of life: the session calls `seen` before dispatching it.
            yield* showLife(session)
            const exit = yield* Effect.exit(registry.rename(session.peer!, command.name))
            expect(renameOutcomeOf(exit), `rename ${step}`).toBe(model.rename(session.connection.id, command.name))
            return
          }
          case "renameAfterEviction": {
            const session = pick(command.who, sessions.filter((s) => !s.connection.isOpen() && s.peer !== undefined))
            if (session === undefined) return
            const exit = yield* Effect.exit(registry.rename(session.peer!, command.name))
            expect(renameOutcomeOf(exit), `rename of a gone peer ${step}`).toBe(model.rename(session.connection.id, command.name))
            return
          }
          case "sweepNow":
            model.sweep()
            return yield* registry.sweep
          case "advance":
            return yield* advance(command.ms)
        }
      })

    // The sweep loop and the actor start asynchronously: let them reach their first wait.
    yield* settle
    check()
    for (const [index, command] of commands.entries()) {
      step = `after command #${index} ${JSON.stringify(command)}`
      yield* run(command)
      if (command.t !== "advance") {
        yield* settle
        check()
      }
    }
    // Run out every pending deadline so late evictions are checked too.
    step = "after the final drain"
    yield* advance(SWEEP_INTERVAL_MS + SWEEP_TIMEOUT_MS)
    return { sessions, model }
  })

const runOnFreshRegistry = (commands: ReadonlyArray<Command>) =>
  Effect.runPromise(runScenario(commands).pipe(Effect.provide(RegistryLive), Effect.provide(TestEnv), Effect.asVoid))

// Hand-written anchors for the model's main rules, so the model is not its own only witness.
const request = (connection: FakeConnection, name: string): Registry.RegisterRequest => ({
  connection,
  name,
  cwd: "/w",
  gitBranch: "main",
  protocolVersion: "6"
})

/** Every command queued before it has been handled once it returns (it fails without touching state). */
const drained = Effect.flatMap(Registry.Registry, (registry) =>
  Effect.flip(registry.register(request(FakeConnection.closed(0), "barrier")))
)

const lastPing = (connection: FakeConnection) => JSON.parse(connection.sent.at(-1) ?? "null")

describe("Registry liveness (examples)", () => {
  it.effect("a holder that answers the probe keeps its name; the challenger gets name_taken at once", () =>
    Effect.gen(function* () {
      const registry = yield* Registry.Registry
      const holderConnection = new FakeConnection(1)
      const holder = yield* registry.register(request(holderConnection, "a"))
      const challenger = yield* Effect.fork(registry.register(request(new FakeConnection(2), "a")))
      yield* Effect.yieldNow()
      yield* drained
      expect(lastPing(holderConnection)).toMatchObject({ type: "ping" })
      yield* registry.seen(holder)
      const failure = yield* Effect.flip(challenger)
      expect(failure.code).toBe("name_taken")
      yield* TestClock.adjust(Duration.millis(PROBE_MS))
      yield* drained
      expect(holderConnection.isOpen()).toBe(true)
      expect(registry.list()).toEqual([holder])
    }).pipe(Effect.provide(RegistryLive)))

  it.effect("a holder silent for the whole probe is closed at 500 ms, not at 499, and the challenger gets the name", () =>
    Effect.gen(function* () {
      const registry = yield* Registry.Registry
      const holderConnection = new FakeConnection(1)
      yield* registry.register(request(holderConnection, "a"))
      // Registering is a sign of life: a probe sent in the same millisecond would count it.
      yield* TestClock.adjust(Duration.millis(1))
      const challengerConnection = new FakeConnection(2)
      const challenger = yield* Effect.fork(registry.register(request(challengerConnection, "a")))
      yield* TestClock.adjust(Duration.millis(PROBE_MS - 1))
      yield* drained
      expect(holderConnection.isOpen()).toBe(true)
      expect(registry.lookup("a")?.connection).toBe(holderConnection)
      yield* TestClock.adjust(Duration.millis(1))
      const peer = yield* challenger
      expect(peer.connection).toBe(challengerConnection)
      expect(holderConnection.closedBy).toBe("hub")
      expect(registry.list()).toEqual([peer])
    }).pipe(Effect.provide(RegistryLive)))

  it.effect("the sweep closes a silent holder at interval + timeout, not before, and keeps one that answered", () =>
    Effect.gen(function* () {
      const registry = yield* Registry.Registry
      const silentConnection = new FakeConnection(1)
      const answeringConnection = new FakeConnection(2)
      yield* registry.register(request(silentConnection, "a"))
      const answering = yield* registry.register(request(answeringConnection, "b"))
      yield* TestClock.adjust(Duration.millis(SWEEP_INTERVAL_MS))
      yield* drained
      expect(lastPing(silentConnection)).toMatchObject({ type: "ping" })
      expect(lastPing(answeringConnection)).toMatchObject({ type: "ping" })
      yield* TestClock.adjust(Duration.millis(SWEEP_TIMEOUT_MS - 1))
      yield* registry.seen(answering)
      yield* drained
      expect(silentConnection.isOpen()).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      yield* drained
      expect(silentConnection.closedBy).toBe("hub")
      expect(answeringConnection.isOpen()).toBe(true)
      expect(registry.list()).toEqual([answering])
    }).pipe(Effect.provide(RegistryLive)))
})

describe("Registry (model-based)", () => {
  it("matches the liveness model over random register/crash/ping/rename/clock sequences", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 40, size: "max" }), runOnFreshRegistry),
      { numRuns: 120 }
    )
    // The property is only as good as what it reached.
    for (const [event, count] of Object.entries(coverage)) expect(count, event).toBeGreaterThan(0)
  }, 120_000)
})
