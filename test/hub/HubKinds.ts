/**
 * The two ways a hub runs, behind one shape so `hubSuite` is written once and run against each
 * (the `e2eSuite(name, layer)` pattern of @effect/platform-node's tests):
 *
 * - `inProcessHub`: the daemon's own program (`hubProgram`) with the library layers (SQLite store
 *   included), run by this Node process — the hub as an embedding app would run it. Stopping it interrupts the program,
 *   which is what the platform runtime does on SIGTERM/SIGINT.
 * - `processHub`: the real `relay hub` on Bun, configured through its environment variables.
 *
 * Both take the same options; the process kind turns them into `RELAY_*` variables and flags.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Cause, Duration, Effect, Exit, Fiber, Layer, Logger, LogLevel, Option } from "effect"
import { envKnobs, HubConfig, type HubConfigShape } from "../../src/hub/HubConfig.ts"
import { hubWithStore } from "../../src/hub/HubWithStore.ts"
import { hubProgram } from "../../src/runtime/HubDaemon.ts"
import * as UnixSocket from "../../src/transport/UnixSocket.ts"
import { HubStartFailure, startProcessHub, tempDataDir } from "../support/TestHub.ts"

/** The knobs a test may turn; both kinds honour every one of them. */
export type HubOptions = Partial<
  Pick<
    HubConfigShape,
    | "probeTimeout"
    | "sweepInterval"
    | "sweepTimeout"
    | "maxOpenAsks"
    | "maxConnections"
    | "maxRooms"
    | "maxRoomMembers"
    | "maxOutboundBytes"
  >
> & {
  readonly idleExit?: Duration.Duration
  /** Reuse a data directory (e.g. to start a second hub on the same socket). */
  readonly dataDir?: string
}

export interface RunningHub {
  readonly socketPath: string
  readonly dataDir: string
  /** The OS process of a process hub; `undefined` in process. */
  readonly pid: number | undefined
  /** The exit code: the process's, or 0 when the in-process program ended without failing. */
  readonly exited: Promise<number | null>
  readonly hasExited: () => boolean
  /** The graceful stop: SIGTERM for the process, interruption for the in-process program. */
  stop(): Promise<void>
  /** What the hub printed (stdout and stderr), for failure messages. */
  readonly output: () => string
}

export { HubStartFailure }

export interface HubKind {
  readonly name: string
  /** `true` for a real OS process: it can receive signals and has its own pid. */
  readonly isProcess: boolean
  start(options?: HubOptions): Promise<RunningHub>
}

const configOverrides = (options: HubOptions): Partial<HubConfigShape> => {
  const { dataDir: _dataDir, idleExit: _idleExit, ...rest } = options
  return rest
}

export const inProcessHub: HubKind = {
  name: "in-process (Node)",
  isProcess: false,
  start: async (options = {}) => {
    const dataDir = options.dataDir ?? tempDataDir()
    const idleExit = Option.fromNullable(options.idleExit)
    // The Unix socket only: the WebSocket endpoint has its own tests.
    const config = HubConfig.layer({ dataDir, idleExit, websocketPort: Option.none(), ...configOverrides(options) })
    // What `relay hub` runs (store included), minus the Bun runtime and the environment.
    const layer = UnixSocket.layer.pipe(Layer.provideMerge(hubWithStore), Layer.provideMerge(config))
    let printed = ""
    let onReady: () => void = () => {}
    const ready = new Promise<void>((resolve) => (onReady = resolve))
    const program = Effect.consoleWith((console) =>
      hubProgram({ idleExit }).pipe(
        Effect.provide(layer),
        Effect.withConsole({
          ...console,
          log: (...args: ReadonlyArray<unknown>) =>
            Effect.sync(() => {
              printed += args.join(" ") + "\n"
              if (printed.includes("ready")) onReady()
            })
        })
      )
    ).pipe(Effect.provide(Logger.minimumLogLevel(process.env.HUB_TEST_LOG === "debug" ? LogLevel.Debug : LogLevel.Error)))

    // hubProgram sets the umask of the process it runs in; give this test worker its own back.
    const umask = process.umask()
    const fiber = Effect.runFork(program)
    let done = false
    const exit = Effect.runPromise(Fiber.await(fiber)).then((result) => {
      done = true
      process.umask(umask)
      return result
    })
    const exited = exit.then((result) =>
      Exit.isSuccess(result) || Cause.isInterruptedOnly(result.cause) ? 0 : 1
    )
    const started = await Promise.race([ready.then(() => undefined), exit])
    if (started !== undefined) {
      throw new HubStartFailure(1, Exit.isFailure(started) ? Cause.pretty(started.cause) : printed)
    }
    return {
      socketPath: path.join(dataDir, "hub.sock"),
      dataDir,
      pid: undefined,
      exited,
      hasExited: () => done,
      stop: async () => {
        await Effect.runPromise(Fiber.interrupt(fiber))
        await exited
      },
      output: () => printed
    }
  }
}

const durationEnv = (d: Duration.Duration) => `${Duration.toMillis(d)}ms`

export const processEnv = (options: HubOptions): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [field, value] of Object.entries(configOverrides(options))) {
    const knob = envKnobs[field as keyof typeof envKnobs]
    if (knob === undefined || value === undefined) continue
    env[knob.env] = Duration.isDuration(value) ? durationEnv(value) : String(value)
  }
  return env
}

export const processHub: HubKind = {
  name: "relay hub process (Bun)",
  isProcess: true,
  start: async (options = {}) => {
    const hub = await startProcessHub({
      dataDir: options.dataDir ?? tempDataDir(),
      args: options.idleExit === undefined ? [] : ["--idle-exit", durationEnv(options.idleExit)],
      env: { RELAY_LOG_LEVEL: "error", ...processEnv(options) }
    })
    return {
      socketPath: hub.socketPath,
      dataDir: hub.dataDir,
      pid: hub.pid,
      exited: hub.exited,
      hasExited: hub.hasExited,
      stop: hub.stop,
      output: () => hub.stdout() + hub.stderr()
    }
  }
}

export const fileMode = (file: string) => fs.statSync(file).mode & 0o777
