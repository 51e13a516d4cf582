/**
 * Real processes for the channel tests: a hub (`bun src/runtime/bun.ts hub`) in a temporary
 * RELAY_HOME, and channel processes driven by the MCP SDK `Client` over stdio, exactly as Claude
 * Code starts them. Everything started here is killed by pid in `cleanup()`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import * as z from "zod"
import { waitFor as poll } from "../support/Poll.ts"

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..")
export const bun = path.join(root, "node_modules", ".bin", "bun")
export const channelEntry = path.join(root, "src", "channel", "main.ts")

const started: Array<ChildProcess> = []

/**
 * Settings every hub started by a test gets (auto-spawned hubs inherit them through RELAY_*): tests
 * run hubs side by side, so none may take the fixed default WebSocket port.
 */
export const testHubEnv = { RELAY_WS_PORT: "0" } as const

/** Bun's transpiler cache, shared by the processes tests start (their HOMEs are fresh and empty). */
const bunCache = path.join(os.tmpdir(), "relay-test-bun-cache")
const homes: Array<string> = []
const clients: Array<Client> = []

export const tempHome = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "relay-channel-"))
  homes.push(dir)
  return dir
}

/** Polls until `check` returns a value other than `undefined`, or fails after `timeoutMs`. */
export const waitFor = <A>(what: string, check: () => A | undefined | Promise<A | undefined>, timeoutMs = 8000) =>
  poll(what, check, timeoutMs, 50)

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export interface HubProcess {
  readonly pid: number
  readonly relayHome: string
  readonly socketPath: string
  readonly output: () => string
  readonly kill: (signal?: NodeJS.Signals) => Promise<void>
}

/** Starts a hub in the foreground and waits for its `ready` line. */
export const startHub = async (relayHome: string, args: ReadonlyArray<string> = []): Promise<HubProcess> => {
  const child = spawn(bun, [path.join(root, "src", "runtime", "bun.ts"), "hub", ...args], {
    env: { PATH: process.env.PATH, HOME: relayHome, RELAY_HOME: relayHome, BUN_RUNTIME_TRANSPILER_CACHE_PATH: bunCache, ...testHubEnv },
    stdio: ["ignore", "pipe", "pipe"]
  })
  started.push(child)
  let output = ""
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  await waitFor(`the hub to print ready (${output})`, () => (/ready/.test(output) ? true : child.exitCode !== null ? undefined : undefined), 15_000)
  return {
    pid: child.pid!,
    relayHome,
    socketPath: path.join(relayHome, "hub.sock"),
    output: () => output,
    kill: async (signal = "SIGKILL") => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once("exit", resolve))
      child.kill(signal)
      await exited
    }
  }
}

/** The pid of the hub that owns a RELAY_HOME (written by the hub itself). */
export const hubPid = (relayHome: string): number | undefined => {
  try {
    const pid = Number(fs.readFileSync(path.join(relayHome, "hub.pid"), "utf8").trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

export const ChannelNotificationSchema = z.object({
  method: z.literal("notifications/claude/channel"),
  params: z.unknown()
})

export interface Notification {
  readonly content: string
  readonly meta: Record<string, unknown>
  readonly raw: unknown
}

export interface ToolOutcome {
  readonly isError: boolean
  readonly json: any
  readonly raw: any
}

export class ChannelSession {
  readonly notifications: Array<Notification> = []
  /** Every notification that was not a channel notification (there should be none). */
  readonly otherNotifications: Array<unknown> = []

  constructor(
    readonly client: Client,
    private readonly pidOf: () => number,
    private readonly stderrOf: () => string
  ) {
    client.setNotificationHandler(ChannelNotificationSchema, (notification) => {
      const params = notification.params as { content: string; meta: Record<string, unknown> }
      this.notifications.push({ content: params.content, meta: params.meta, raw: notification.params })
    })
    client.fallbackNotificationHandler = async (notification) => {
      this.otherNotifications.push(notification)
    }
  }

  get pid(): number {
    return this.pidOf()
  }

  /** The channel's log (debug level). */
  get stderr(): string {
    return this.stderrOf()
  }

  async call(name: string, args: Record<string, unknown> = {}): Promise<ToolOutcome> {
    const raw: any = await this.client.callTool({ name, arguments: args })
    const text = raw.content?.[0]?.text
    return { isError: raw.isError === true, json: typeof text === "string" ? JSON.parse(text) : undefined, raw }
  }

  /** The first notification (after `from` already seen) matching `predicate`. */
  next(what: string, predicate: (n: Notification) => boolean, timeoutMs = 8000): Promise<Notification> {
    return waitFor(what, () => this.notifications.find(predicate), timeoutMs)
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined)
  }
}

export interface ChannelStart {
  readonly relayHome: string
  readonly peerId?: string
  /** HOME of the channel process (Claude Code session files live under it). */
  readonly home?: string
  readonly cwd?: string
  readonly env?: Record<string, string>
  /** The MCP client name announced in `initialize` (Claude Code says `claude-code`). */
  readonly clientName?: string
}

const channelEnv = (options: ChannelStart): Record<string, string> => ({
  PATH: process.env.PATH ?? "",
  HOME: options.home ?? options.relayHome,
  RELAY_HOME: options.relayHome,
  RELAY_LOG_LEVEL: "debug",
  ...testHubEnv,
  BUN_RUNTIME_TRANSPILER_CACHE_PATH: bunCache,
  ...(options.peerId === undefined ? {} : { RELAY_PEER_ID: options.peerId }),
  ...options.env
})

/** Starts `bun src/channel/main.ts` through the SDK's stdio transport and initializes MCP. */
export const startChannel = async (options: ChannelStart): Promise<ChannelSession> => {
  const transport = new StdioClientTransport({
    command: bun,
    args: [channelEntry],
    env: channelEnv(options),
    cwd: options.cwd ?? root,
    stderr: "pipe"
  })
  const client = new Client({ name: options.clientName ?? "relay-test", version: "1.0.0" })
  clients.push(client)
  let stderr = ""
  transport.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  const session = new ChannelSession(client, () => transport.pid ?? -1, () => stderr)
  await client.connect(transport)
  return session
}

/**
 * A channel process whose MCP client connects only when the test says so: lets a test make the
 * hub push to the session before the MCP handshake has even started.
 */
export const spawnChannelDeferred = (options: ChannelStart) => {
  const child = spawn(bun, [channelEntry], { env: channelEnv(options), cwd: options.cwd ?? root, stdio: ["pipe", "pipe", "pipe"] })
  started.push(child)
  let stderr = ""
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  return {
    child,
    stderr: () => stderr,
    connect: async (): Promise<ChannelSession & { readonly wire: ReadonlyArray<string> }> => {
      const client = new Client({ name: "relay-test", version: "1.0.0" })
      clients.push(client)
      const session = new ChannelSession(client, () => child.pid!, () => stderr)
      const transport = new ChildTransport(child)
      await client.connect(transport)
      return Object.assign(session, { wire: transport.wire })
    }
  }
}

/** An MCP client transport over a child process that is already running. */
class ChildTransport implements Transport {
  onclose?: () => void
  onerror?: (error: Error) => void
  onmessage?: (message: JSONRPCMessage) => void
  private readonly buffer = new ReadBuffer()
  /** Both directions in order: `out <method>` for what the client sent, `in <method|result>` for what came back. */
  readonly wire: Array<string> = []

  constructor(private readonly child: ChildProcess) {}

  async start(): Promise<void> {
    this.child.stdout!.on("data", (chunk: Buffer) => {
      this.buffer.append(chunk)
      for (let message = this.buffer.readMessage(); message !== null; message = this.buffer.readMessage()) {
        this.wire.push(`in ${"method" in message ? message.method : "result"}`)
        this.onmessage?.(message)
      }
    })
    this.child.on("exit", () => this.onclose?.())
  }

  async send(message: JSONRPCMessage): Promise<void> {
    this.wire.push(`out ${"method" in message ? message.method : "result"}`)
    this.child.stdin!.write(serializeMessage(message))
  }

  async close(): Promise<void> {
    this.child.stdin!.end()
  }
}

/** Kills every process this harness started and every hub that was auto-spawned in a temp home. */
export const cleanup = async (): Promise<void> => {
  await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)))
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
  }
  for (const home of homes.splice(0)) {
    for (const relayHome of [home, path.join(home, "relay")]) {
      const pid = hubPid(relayHome)
      if (pid !== undefined && isAlive(pid)) {
        try {
          process.kill(pid, "SIGKILL")
        } catch {
          // already gone
        }
      }
    }
    fs.rmSync(home, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
  }
}

/**
 * One channel per peer id on the hub in `relayHome` (no auto-spawn), returned once every one of
 * them is registered and sees all the others.
 */
export const startPeers = async (relayHome: string, peerIds: ReadonlyArray<string>): Promise<Array<ChannelSession>> => {
  const sessions = await Promise.all(peerIds.map((peerId) => startChannel({ relayHome, peerId, env: { RELAY_AUTOSPAWN: "0" } })))
  await waitFor(`${peerIds.join(", ")} registered`, async () => {
    const result = await sessions[0]!.call("relay_peers")
    return !result.isError && result.json.peers.length === peerIds.length - 1 ? true : undefined
  })
  return sessions
}
