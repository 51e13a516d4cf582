/**
 * The `relay` command. Each subcommand is one function; errors are values that say what to do
 * next, printed on stderr with a non-zero exit code.
 */
import { Console, Duration, Effect, Either, Option, Schedule } from "effect"
import * as fs from "node:fs"
import packageJson from "../../package.json" with { type: "json" }
import { HubConfig } from "../hub/HubConfig.ts"
import { pidFilePath, runHubDaemon } from "../runtime/HubDaemon.ts"
import type { Platform } from "../runtime/Platform.ts"
import { probeSocket } from "../transport/UnixSocket.ts"
import { portFilePath } from "../transport/WebSocketEndpoint.ts"
import { parseDuration } from "../hub/DurationText.ts"
import { requestAll } from "./HubRequest.ts"
import { install, uninstall } from "./Install.ts"
import { CommandFailed, UsageError } from "./CliErrors.ts"


export const usage = `relay ${packageJson.version} — a message hub for AI coding sessions

Usage:
  relay hub [--idle-exit <duration>]   run the hub in the foreground (prints "ready" when it listens)
  relay status [--json]                is a hub running on this socket? who is connected?
  relay stop                           stop the running hub
  relay doctor                         check the data directory, the socket and the message store
  relay install [claude|opencode|copilot] [--scope project|user]
                                       set up a harness to use relay (none named: every one on PATH)
  relay uninstall claude|opencode|copilot [--scope project|user]
  relay channel                        the Claude Code MCP server (started by Claude Code, not by hand)
  relay help | --version

Environment:
  RELAY_HOME        data directory (default ~/.relay)
  RELAY_HUB_SOCKET  socket path (default $RELAY_HOME/hub.sock)
  RELAY_LOG_LEVEL   debug | info | warning | error (default info); logs are JSON lines on stderr
  RELAY_WS_PORT     loopback WebSocket port for OpenCode/Copilot clients (default 9376; 0 = off;
                    auto = any free port); the port in use is written to $RELAY_HOME/ws.port
  RELAY_SYNC        normal (default): an acknowledged message survives the hub crashing or being
                    killed; full: it also survives power loss (one fsync per commit batch)
  RELAY_WS_TOKEN    the WebSocket auth token (default: $RELAY_HOME/ws.token, created on first start)

Tuning (relay hub; unset = the default shown):
  RELAY_PROBE_TIMEOUT       500ms  a name's holder must answer the collision probe within this
  RELAY_SWEEP_INTERVAL      30s    how often every peer is pinged
  RELAY_SWEEP_TIMEOUT       1s     how long a pinged peer has to answer before it is disconnected
  RELAY_ASK_TTL             10m    how long a broadcast question accepts replies
  RELAY_MAX_OPEN_ASKS       10000  open broadcast questions (one per recipient)
  RELAY_MAX_PEERS           1000   registered peers
  RELAY_MAX_CONNECTIONS     2000   open connections
  RELAY_MAX_ROOMS           50     rooms
  RELAY_MAX_ROOM_MEMBERS    20     members per room
  RELAY_MAX_OUTBOUND_BYTES  8388608  bytes waiting towards one connection before it is cut off as too slow
  RELAY_AUTH_TIMEOUT        5s     how long a WebSocket client has to send its auth frame

Durations: 500ms, 10s, 2m, 1h. --idle-exit makes the hub exit once no session of any transport has
been connected for that long (sessions that auto-spawn the hub use 10s).`

const flagValue = (args: ReadonlyArray<string>, flag: string): Either.Either<Option.Option<string>, string> => {
  const index = args.findIndex((a) => a === flag || a.startsWith(`${flag}=`))
  if (index === -1) return Either.right(Option.none())
  const arg = args[index]!
  if (arg.includes("=")) return Either.right(Option.some(arg.slice(flag.length + 1)))
  const value = args[index + 1]
  return value === undefined || value.startsWith("--")
    ? Either.left(`${flag} needs a value, e.g. ${flag} 10s`)
    : Either.right(Option.some(value))
}

const checkFlags = (args: ReadonlyArray<string>, known: ReadonlyArray<string>, valued: ReadonlyArray<string>) => {
  for (let i = 0; i < args.length; i++) {
    const name = args[i]!.split("=")[0]!
    if (!known.includes(name)) {
      return Effect.fail(new UsageError({ message: `unknown argument '${args[i]}'; see \`relay help\`` }))
    }
    if (valued.includes(name) && !args[i]!.includes("=")) i++
  }
  return Effect.void
}

const hub = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    yield* checkFlags(args, ["--idle-exit"], ["--idle-exit"])
    const raw = flagValue(args, "--idle-exit")
    if (Either.isLeft(raw)) return yield* new UsageError({ message: raw.left })
    let idleExit = Option.none<Duration.Duration>()
    if (Option.isSome(raw.right)) {
      const parsed = parseDuration(raw.right.value)
      if (Either.isLeft(parsed)) return yield* new UsageError({ message: `--idle-exit: ${parsed.left}` })
      idleExit = Option.some(parsed.right)
    }
    yield* runHubDaemon({ idleExit }).pipe(
      Effect.catchTags({
        HubAlreadyRunning: (e) => new CommandFailed({ message: e.message, exitCode: 1 }),
        SocketPathError: (e) => new CommandFailed({ message: e.message, exitCode: 1 }),
        DataDirError: (e) => new CommandFailed({ message: e.message, exitCode: 1 }),
        ConfigError: (e) => new CommandFailed({ message: `invalid configuration: ${e.message}`, exitCode: 2 }),
        StoreError: (e) => new CommandFailed({ message: `cannot open the message store: ${e.message}`, exitCode: 1 })
      })
    )
  })

const config = Effect.provide(HubConfig, HubConfig.layerFromEnv()).pipe(
  Effect.mapError((e) => new CommandFailed({ message: `invalid configuration: ${e.message}`, exitCode: 2 }))
)

const status = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    yield* checkFlags(args, ["--json"], [])
    const json = args.includes("--json")
    const { socketPath } = yield* config
    const state = yield* probeSocket(socketPath)
    if (state !== "live") {
      if (json) yield* Console.log(JSON.stringify({ running: false, socket: socketPath }))
      return yield* new CommandFailed({
        message: `no hub is running on ${socketPath}; start one with \`relay hub\` (sessions start one by themselves)`,
        exitCode: 3
      })
    }
    const [welcome, peers] = yield* requestAll(socketPath, [{ type: "hello", client: "relay-cli" }, { type: "list_peers" }])
    const list = (peers?.peers ?? []) as ReadonlyArray<{ name: string; cwd: string; git_branch: string; last_seen: number }>
    const { dataDir } = yield* config
    const pid = readNumber(pidFilePath(dataDir))
    const websocketPort = readNumber(portFilePath(dataDir))
    if (json) {
      yield* Console.log(JSON.stringify({ running: true, socket: socketPath, pid, websocket_port: websocketPort, hub: welcome, peers: list }))
      return
    }
    const websocket = websocketPort === undefined ? "WebSocket off" : `WebSocket ws://127.0.0.1:${websocketPort}`
    yield* Console.log(
      `hub ${String(welcome?.hub_id)} (relay ${String(welcome?.hub_version)}, pid ${pid ?? "?"}) is running on ${socketPath}; ${websocket}; ${list.length} peer${list.length === 1 ? "" : "s"}`
    )
    for (const peer of list) {
      const branch = peer.git_branch ? ` [${peer.git_branch}]` : ""
      yield* Console.log(`  ${peer.name}  ${peer.cwd}${branch}  last seen ${new Date(peer.last_seen).toISOString()}`)
    }
  }).pipe(Effect.catchTag("HubRequestError", (e) => new CommandFailed({ message: e.message, exitCode: 1 })))

/** A number the hub wrote to a file of its data directory (`hub.pid`, `ws.port`), if it is there. */
const readNumber = (file: string): number | undefined => {
  try {
    const value = Number(fs.readFileSync(file, "utf8").trim())
    return Number.isInteger(value) && value > 0 ? value : undefined
  } catch {
    return undefined
  }
}

const stop = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    yield* checkFlags(args, [], [])
    const { dataDir, socketPath } = yield* config
    if ((yield* probeSocket(socketPath)) !== "live") {
      yield* Console.log(`no hub is running on ${socketPath}`)
      return
    }
    const pid = Number(fs.readFileSync(pidFilePath(dataDir), { encoding: "utf8", flag: "r" }).trim())
    if (!Number.isInteger(pid) || pid <= 0) {
      return yield* new CommandFailed({
        message: `a hub answers on ${socketPath} but ${pidFilePath(dataDir)} holds no pid; stop it with kill or Ctrl-C`,
        exitCode: 1
      })
    }
    process.kill(pid, "SIGTERM")
    const gone = yield* probeSocket(socketPath).pipe(
      Effect.repeat({ until: (s) => s !== "live", schedule: Schedule.spaced(Duration.millis(50)) }),
      Effect.timeout(Duration.seconds(10)),
      Effect.option
    )
    if (Option.isNone(gone)) {
      return yield* new CommandFailed({ message: `hub (pid ${pid}) did not stop within 10s; it may be busy — try again or kill it`, exitCode: 1 })
    }
    yield* Console.log(`stopped the hub (pid ${pid})`)
  }).pipe(
    Effect.catchAllDefect((defect) =>
      new CommandFailed({ message: `could not stop the hub: ${String(defect)}`, exitCode: 1 })
    )
  )

// Loaded on demand: the hub never pays for the MCP SDK.
/** Checks what a user cannot see: permissions, a stale socket, a store kept aside as damaged. */
const doctor = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    yield* checkFlags(args, [], [])
    const { dataDir, socketPath } = yield* config
    const problems: Array<string> = []
    const ok = (line: string) => Console.log(`ok    ${line}`)
    const bad = (line: string) => {
      problems.push(line)
      return Console.log(`FAIL  ${line}`)
    }
    const dir = fs.statSync(dataDir, { throwIfNoEntry: false })
    if (dir === undefined) yield* ok(`data directory ${dataDir} does not exist yet (the hub creates it)`)
    else if ((dir.mode & 0o777) !== 0o700) yield* bad(`data directory ${dataDir} is ${(dir.mode & 0o777).toString(8)}, should be 700: chmod 700 ${dataDir}`)
    else yield* ok(`data directory ${dataDir} (700)`)
    const state = yield* probeSocket(socketPath)
    if (state === "live") yield* ok(`a hub answers on ${socketPath}`)
    else if (state === "stale") yield* ok(`${socketPath} is left over from a hub that did not exit cleanly; the next hub replaces it`)
    else yield* ok(`no hub is running on ${socketPath} (sessions start one when they need it)`)
    if (dir !== undefined) {
      for (const entry of fs.readdirSync(dataDir)) {
        const file = `${dataDir}/${entry}`
        if (entry.includes(".corrupt-")) {
          yield* bad(`${file} is a damaged message store that was kept aside; the hub started a fresh one. Keep it for recovery or delete it.`)
          continue
        }
        const stat = fs.statSync(file, { throwIfNoEntry: false })
        if (stat !== undefined && !stat.isDirectory() && (stat.mode & 0o077) !== 0) {
          yield* bad(`${file} is readable by others (${(stat.mode & 0o777).toString(8)}): chmod 600 ${file}`)
        }
      }
    }
    if (problems.length > 0) {
      return yield* new CommandFailed({ message: `${problems.length} problem${problems.length === 1 ? "" : "s"} found`, exitCode: 1 })
    }
    yield* Console.log("no problems found")
  })

const channelModule = "../channel/main.ts"
const channel = Effect.promise(() => import(channelModule)).pipe(
  Effect.flatMap((module) => Effect.promise(() => (module as { runChannel: () => Promise<void> }).runChannel()))
)

export const cli = (argv: ReadonlyArray<string>): Effect.Effect<void, UsageError | CommandFailed, Platform> => {
  const [command, ...args] = argv
  switch (command) {
    case "hub":
      return hub(args)
    case "status":
      return status(args)
    case "stop":
      return stop(args)
    case "doctor":
      return doctor(args)
    case "install":
      return install(args)
    case "uninstall":
      return uninstall(args)
    case "channel":
      return channel
    case undefined:
    case "help":
    case "--help":
    case "-h":
      return Console.log(usage)
    case "--version":
    case "version":
      return Console.log(packageJson.version)
    default:
      return Effect.fail(new UsageError({ message: `unknown command '${command}'; see \`relay help\`` }))
  }
}

/** Prints a failed command's message and sets the exit code; defects are left to the runtime. */
export const runCli = (argv: ReadonlyArray<string>) =>
  cli(argv).pipe(
    Effect.catchTags({
      UsageError: (e) => Console.error(`relay: ${e.message}`).pipe(Effect.zipRight(Effect.sync(() => (process.exitCode = 2)))),
      CommandFailed: (e) =>
        Console.error(`relay: ${e.message}`).pipe(Effect.zipRight(Effect.sync(() => (process.exitCode = e.exitCode))))
    })
  )
