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
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Cause, Duration, Effect, Exit, Fiber, Layer, Logger, LogLevel, Option } from "effect"
import { envKnobs, HubConfig, type HubConfigShape } from "../../src/hub/HubConfig.ts"
import { hubWithStore } from "../../src/hub/HubWithStore.ts"
import { hubProgram } from "../../src/runtime/HubDaemon.ts"
import * as UnixSocket from "../../src/transport/UnixSocket.ts"
import { bunBinary, repoRoot, tempDataDir } from "../support/TestHub.ts"

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

/** A hub that refused to start: its exit code and what it said. */
export class HubStartFailure extends Error {
  constructor(
    readonly code: number | null,
    readonly output: string
  ) {
    super(`hub failed to start (exit ${code}): ${output}`)
  }
}

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
    const dataDir = options.dataDir ?? tempDataDir()
    const args = options.idleExit === undefined ? [] : ["--idle-exit", durationEnv(options.idleExit)]
    const child = spawn(bunBinary, [path.join(repoRoot, "src/runtime/bun.ts"), "hub", ...args], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? os.homedir(),
        RELAY_HOME: dataDir,
        RELAY_LOG_LEVEL: "error",
        // The Unix socket only: the WebSocket endpoint has its own tests (and 9376 may be taken).
        RELAY_WS_PORT: "0",
        ...processEnv(options)
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    let onReady: () => void = () => {}
    const ready = new Promise<void>((resolve) => (onReady = resolve))
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      output += d
      if (output.includes("ready")) onReady()
    })
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d))
    let done = false
    const exited = new Promise<number | null>((resolve) =>
      child.once("exit", (code) => {
        done = true
        resolve(code)
      })
    )
    const timeout = setTimeout(() => child.kill("SIGKILL"), 20_000)
    const started = await Promise.race([ready.then(() => "ready" as const), exited])
    clearTimeout(timeout)
    if (started !== "ready") throw new HubStartFailure(started, output)
    return {
      socketPath: path.join(dataDir, "hub.sock"),
      dataDir,
      pid: child.pid,
      exited,
      hasExited: () => done,
      stop: async () => {
        if (!done) child.kill("SIGTERM")
        // A hub that hangs on SIGTERM fails its own test; it must not outlive the test run.
        const killer = setTimeout(() => child.kill("SIGKILL"), 10_000)
        await exited
        clearTimeout(killer)
      },
      output: () => output
    }
  }
}

export const fileMode = (file: string) => fs.statSync(file).mode & 0o777
