/**
 * Hubs for tests, behind one shape so the same suite runs against each: in-process on Node (the
 * embedding case, through `ManagedRuntime`), or the real `relay hub` process on Bun.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime, Option } from "effect"
import { Hub, layerWith } from "../../src/hub/Hub.ts"
import type { Registry } from "../../src/hub/Registry.ts"
import { HubConfig, type HubConfigShape } from "../../src/hub/HubConfig.ts"
import { hubWithStore } from "../../src/hub/HubWithStore.ts"
import { layerUnavailable } from "../../src/hub/Messaging.ts"
import * as UnixSocket from "../../src/transport/UnixSocket.ts"
import * as WebSocketNode from "../../src/transport/WebSocketNode.ts"

export const repoRoot = path.resolve(import.meta.dirname, "../..")
export const bunBinary = path.join(repoRoot, "node_modules/.bin/bun")

export interface TestHub {
  readonly socketPath: string
  readonly dataDir: string
  stop(): Promise<void>
}

export const tempDataDir = (prefix = "relay-test-") => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

export interface InProcessHub extends TestHub {
  /** The hub's services, as an embedding program sees them. */
  readonly runtime: ManagedRuntime.ManagedRuntime<Hub | HubConfig | Registry, unknown>
  /** With `websocket: true`: the loopback endpoint (any free port) and its token. */
  readonly websocket: { readonly url: string; readonly port: number; readonly token: string } | undefined
}

/** The hub embedded in this (Node) process, as another Effect program would embed it. */
export const startInProcessHub = async (
  overrides: Partial<HubConfigShape> = {},
  options: { readonly store?: boolean; readonly websocket?: boolean } = {}
): Promise<InProcessHub> => {
  const dataDir = overrides.dataDir ?? tempDataDir()
  const config = HubConfig.layer({ dataDir, websocketPort: Option.some(0), ...overrides })
  // The same hub `relay hub` runs (SQLite file in the data directory), unless a test wants none.
  const hub = options.store === false ? layerWith(layerUnavailable) : hubWithStore
  // Warnings and errors only, so test output stays readable (RELAY_TEST_LOGS=debug for all).
  const logs = Logger.minimumLogLevel(process.env.RELAY_TEST_LOGS === "debug" ? LogLevel.Debug : LogLevel.Warning)
  const transports = options.websocket === true ? Layer.merge(UnixSocket.layer, Layer.discard(WebSocketNode.layer)) : UnixSocket.layer
  const layer = transports.pipe(Layer.provideMerge(hub), Layer.provideMerge(config), Layer.provide(logs))
  const runtime = ManagedRuntime.make(layer)
  const resolved = await runtime.runPromise(HubConfig)
  const websocket =
    options.websocket === true
      ? { ...readWebSocketEndpoint(dataDir, Option.getOrUndefined(resolved.websocketToken)) }
      : undefined
  return {
    socketPath: resolved.socketPath,
    dataDir,
    websocket,
    runtime,
    stop: () => runtime.dispose()
  }
}

/** What a client finds in the data directory: the port the endpoint took and the token. */
export const readWebSocketEndpoint = (dataDir: string, configuredToken?: string) => {
  const port = Number(fs.readFileSync(path.join(dataDir, "ws.port"), "utf8").trim())
  const token = configuredToken ?? fs.readFileSync(path.join(dataDir, "ws.token"), "utf8").trim()
  return { url: `ws://127.0.0.1:${port}`, port, token }
}

export interface ProcessHub extends TestHub {
  readonly child: ChildProcess
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<number | null>
  readonly hasExited: () => boolean
}

/** A hub that exited instead of printing `ready`: its exit code and what it said. */
export class HubStartFailure extends Error {
  constructor(
    readonly code: number | null,
    readonly output: string
  ) {
    super(`relay hub exited (${code}) before it was ready: ${output}`)
  }
}

export interface ProcessHubOptions {
  readonly dataDir?: string
  readonly args?: ReadonlyArray<string>
  /** Added to a minimal environment (PATH, HOME, RELAY_HOME, RELAY_WS_PORT=0). */
  readonly env?: Record<string, string>
  /** `bin/relay`, as a user types it, instead of Bun on the entry point directly. */
  readonly viaBin?: boolean
}

/**
 * The real `relay hub` on Bun, as a user runs it. `stop` sends SIGTERM and, should the hub hang,
 * SIGKILL after 10 s: a hung hub fails its own test, it does not outlive the run.
 */
export const startProcessHub = async (options: ProcessHubOptions = {}): Promise<ProcessHub> => {
  const dataDir = options.dataDir ?? tempDataDir()
  const [command, entry] = options.viaBin === true ? [path.join(repoRoot, "bin/relay"), []] : [bunBinary, [path.join(repoRoot, "src/runtime/bun.ts")]]
  const child = spawn(command, [...entry, "hub", ...(options.args ?? [])], {
    // No WebSocket endpoint unless a test asks (RELAY_WS_PORT=auto): parallel hubs would share 9376.
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? os.homedir(), RELAY_HOME: dataDir, RELAY_WS_PORT: "0", ...options.env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let out = ""
  let err = ""
  let onReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => (onReady = resolve))
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    out += d
    if (out.includes("ready")) onReady()
  })
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d))
  let done = false
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      done = true
      resolve(code)
    })
  )
  const starting = setTimeout(() => child.kill("SIGKILL"), 20_000)
  const started = await Promise.race([ready.then(() => "ready" as const), exited])
  clearTimeout(starting)
  if (started !== "ready") throw new HubStartFailure(started, out + err)
  return {
    socketPath: options.env?.RELAY_HUB_SOCKET ?? path.join(dataDir, "hub.sock"),
    dataDir,
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exited,
    hasExited: () => done,
    stop: async () => {
      if (!done) child.kill("SIGTERM")
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000)
      await exited
      clearTimeout(killer)
    }
  }
}

export const runEffect = <A>(hub: InProcessHub, effect: Effect.Effect<A, unknown, Hub | HubConfig>) =>
  hub.runtime.runPromise(effect)
