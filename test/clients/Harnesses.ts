/**
 * Real OpenCode and Copilot CLI processes for the client tests, each in its own temporary HOME
 * with its own hub (RELAY_HOME inside that HOME, `RELAY_WS_PORT=auto`), the adapters installed the
 * way a user installs them (`relay install …`), and the model API faked on 127.0.0.1.
 * Everything started here is killed by pid in `stopAll()`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { defaultContext, installWith } from "../../src/cli/Install.ts"
import type { NdjsonClient } from "../support/NdjsonClient.ts"
import { openPeerPanel, type PeerPanel } from "../support/PeerPanel.ts"
import { waitFor as poll } from "../support/Poll.ts"
import { type ProcessHub, repoRoot, startProcessHub } from "../support/TestHub.ts"

export const clientsDir = path.join(repoRoot, "test", "clients")
export const opencodeBin = path.join(clientsDir, "node_modules", ".bin", "opencode")
export const copilotBin = path.join(clientsDir, "node_modules", ".bin", "copilot")
export const pinned: Record<string, string> = JSON.parse(fs.readFileSync(path.join(clientsDir, "package.json"), "utf8")).dependencies

const children: Array<ChildProcess> = []
const hubs: Array<ProcessHub> = []
const panels: Array<PeerPanel> = []
const dirs: Array<string> = []

/** Real clients are slow: a longer default wait than the in-process suites use. */
export const waitFor = <A>(what: string, check: () => A | undefined | Promise<A | undefined>, timeoutMs = 15_000) =>
  poll(what, check, timeoutMs, 100)

export interface World {
  readonly home: string
  readonly relayHome: string
  readonly hub: ProcessHub
  /** A plain protocol-6 peer on the hub's Unix socket. */
  peer(name: string): Promise<NdjsonClient>
  peerNames(): Promise<Array<string>>
}

/** A fresh HOME with a hub of its own (WebSocket on any free port). */
export const startWorld = async (): Promise<World> => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "relay-client-"))
  dirs.push(home)
  const relayHome = path.join(home, "relay")
  fs.mkdirSync(relayHome, { mode: 0o700 })
  const hub = await startProcessHub({ dataDir: relayHome, env: { RELAY_WS_PORT: "auto", HOME: home } })
  hubs.push(hub)
  const panel = await openPeerPanel(hub.socketPath)
  panels.push(panel)
  return { home, relayHome, hub, peer: panel.peer, peerNames: panel.peerNames }
}

const track = (child: ChildProcess) => {
  children.push(child)
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  return () => output
}

export interface OpenCode {
  readonly url: string
  readonly project: string
  readonly output: () => string
  /** A JSON request to the OpenCode server for this project. */
  api(method: string, route: string, body?: unknown): Promise<any>
}

/**
 * `opencode serve` on loopback in `<home>/project`, with the plugin installed there
 * (`relay install opencode --scope project`) and the anthropic provider pointed at `modelUrl`.
 */
export const startOpenCode = async (world: World, modelUrl: string | undefined): Promise<OpenCode> => {
  const project = path.join(world.home, "project")
  fs.mkdirSync(project, { recursive: true })
  await Effect.runPromise(installWith(["opencode", "--scope", "project"], { ...defaultContext(), cwd: project }).pipe(Effect.orDie))
  fs.writeFileSync(
    path.join(project, "opencode.json"),
    JSON.stringify({
      ...(modelUrl === undefined
        ? {}
        : { model: "anthropic/claude-sonnet-4-5", provider: { anthropic: { options: { apiKey: "sk-ant-x", baseURL: `${modelUrl}/v1` } } } }),
      autoupdate: false,
      share: "disabled"
    })
  )
  const child = spawn(opencodeBin, ["serve", "--port", "0", "--hostname", "127.0.0.1"], {
    cwd: project,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: world.home,
      RELAY_HOME: world.relayHome,
      RELAY_AUTOSPAWN: "0",
      RELAY_LOG_LEVEL: "debug"
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const output = track(child)
  const url = await waitFor(`opencode serve to listen (${output()})`, () => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output())?.[1], 30_000)
  const api = async (method: string, route: string, body?: unknown) => {
    const separator = route.includes("?") ? "&" : "?"
    const response = await fetch(`${url}${route}${separator}directory=${encodeURIComponent(project)}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`)
    return text === "" ? undefined : JSON.parse(text)
  }
  return { url, project, output, api }
}

export interface Copilot {
  readonly exit: Promise<number | null>
  readonly output: () => string
  readonly logDir: string
  readonly logs: () => string
}

/** Copilot's extracted runtime is ~235 MB: shared by the tests instead of one per HOME. */
const copilotCache = path.join(os.tmpdir(), "relay-test-copilot-cache")

/**
 * `copilot -p <prompt>` in bring-your-own-key mode against `modelUrl`, with the extension installed
 * in `<home>/.copilot` by `relay install copilot`.
 */
export const runCopilot = async (world: World, modelUrl: string, prompt: string, env: Record<string, string> = {}): Promise<Copilot> => {
  const copilotHome = path.join(world.home, ".copilot")
  await Effect.runPromise(installWith(["copilot"], { ...defaultContext(), env: { ...process.env, COPILOT_HOME: copilotHome } }).pipe(Effect.orDie))
  const project = path.join(world.home, "copilot-project")
  fs.mkdirSync(project, { recursive: true })
  const logDir = path.join(world.home, "copilot-logs")
  const child = spawn(
    copilotBin,
    ["-p", prompt, "--experimental", "--allow-all-tools", "--no-auto-update", "--log-dir", logDir, "--log-level", "all"],
    {
      cwd: project,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: world.home,
        XDG_CACHE_HOME: copilotCache,
        COPILOT_HOME: copilotHome,
        COPILOT_PROVIDER_TYPE: "anthropic",
        COPILOT_PROVIDER_BASE_URL: modelUrl,
        COPILOT_PROVIDER_API_KEY: "sk-ant-x",
        COPILOT_MODEL: "claude-sonnet-4.5",
        RELAY_HOME: world.relayHome,
        RELAY_AUTOSPAWN: "0",
        RELAY_LOG_LEVEL: "debug",
        ...env
      },
      stdio: ["ignore", "pipe", "pipe"]
    }
  )
  const output = track(child)
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const logs = () => {
    if (!fs.existsSync(logDir)) return ""
    return fs.readdirSync(logDir).map((file) => fs.readFileSync(path.join(logDir, file), "utf8")).join("\n")
  }
  return { exit, output, logDir, logs }
}

export const stopAll = async (): Promise<void> => {
  for (const panel of panels.splice(0)) panel.close()
  const exits = children.splice(0).map((child) => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
    const exited = new Promise((resolve) => child.once("exit", resolve))
    child.kill("SIGKILL")
    return exited
  })
  await Promise.all(exits)
  for (const hub of hubs.splice(0)) await hub.stop()
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
}
