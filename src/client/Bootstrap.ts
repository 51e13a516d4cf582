/**
 * Makes sure a hub answers on the socket, starting one if none does.
 *
 * The spawned hub is detached in its own process group with a minimal environment, so that it
 * outlives the session that started it, does not receive the terminal's Ctrl-C, and does not
 * inherit tokens the session happened to have. It exits by itself once idle (`--idle-exit 10s`).
 *
 * Several sessions may start at the same moment. A short-lived spawn lock keeps most of them from
 * spawning at all; the hub itself refuses a second instance ("already running"), so a race that
 * slips past the lock still ends with one hub, and every session simply keeps probing until it
 * answers.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Duration, Effect, Schedule } from "effect"
import { HubError, hubUnreachable } from "./HubClient.ts"

export interface BootstrapOptions {
  readonly socketPath: string
  /** The data directory (`RELAY_HOME`); the spawn lock and the hub's log live there. */
  readonly home: string
  /** The command that starts a hub in the foreground; defaults to the package's own `bin/relay`. */
  readonly command?: ReadonlyArray<string> | undefined
  /** Environment to pick the hub's variables from (defaults to `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  readonly waitTimeout?: Duration.DurationInput | undefined
}

/** The package root: two levels above this file (`src/client/`). */
export const packageRoot = (): string => fileURLToPath(new URL("../../", import.meta.url))

/**
 * `bin/relay hub --idle-exit 10s`, found from the package root rather than `PATH`: a plugin
 * install has no `relay` on `PATH`, and a different `relay` there could be another version.
 */
export const hubCommand = (root = packageRoot()): ReadonlyArray<string> => {
  const bin = path.join(root, "bin", "relay")
  if (fs.existsSync(bin)) return [bin, "hub", "--idle-exit", "10s"]
  // A checkout without the launcher yet: run the Bun entry point directly.
  const bun = path.basename(process.execPath).startsWith("bun") ? process.execPath : path.join(root, "node_modules", ".bin", "bun")
  return [bun, path.join(root, "src", "runtime", "bun.ts"), "hub", "--idle-exit", "10s"]
}

/** Only what a hub needs: where to find programs, the home directory, and its own settings. */
export const minimalEnv = (env: Readonly<Record<string, string | undefined>>): Record<string, string> => {
  const picked: Record<string, string> = {}
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue
    if (key === "PATH" || key === "HOME" || key.startsWith("RELAY_")) picked[key] = value
  }
  return picked
}

/**
 * True when something on the socket answers the bootstrap ping with the exact bootstrap pong.
 * Never fails: every problem (no file, refused, garbage, silence) means "no hub".
 */
export const probe = (socketPath: string, timeout: Duration.DurationInput = "1 second"): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    let done = false
    let buffered = ""
    const finish = (answer: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resume(Effect.succeed(answer))
    }
    const socket = net.createConnection({ path: socketPath })
    const timer = setTimeout(() => finish(false), Duration.toMillis(timeout))
    socket.on("connect", () => socket.write('{"type":"ping","req_id":"bootstrap"}\n'))
    socket.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8")
      const newline = buffered.indexOf("\n")
      if (newline !== -1) finish(buffered.slice(0, newline).trim() === '{"type":"pong","req_id":"bootstrap"}')
      else if (buffered.length > 4096) finish(false)
    })
    socket.on("error", () => finish(false))
    socket.on("close", () => finish(false))
    return Effect.sync(() => finish(false))
  })

const lockStaleMs = 10_000

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Takes the spawn lock if nobody holds a live one. The lock names its holder's pid: a holder that
 * died mid-spawn (Claude Code kills health-check servers early) must not make everyone wait.
 */
const tryLock = (lockPath: string): boolean => {
  const create = () => {
    const fd = fs.openSync(lockPath, "wx", 0o600)
    fs.writeSync(fd, String(process.pid))
    fs.closeSync(fd)
  }
  try {
    create()
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") return true
    try {
      const content = fs.readFileSync(lockPath, "utf8").trim()
      const holder = Number(content)
      // An empty lock is one being written right now: only its age can make it stale.
      const deadHolder = content !== "" && !(holder > 0 && alive(holder))
      const stale = deadHolder || Date.now() - fs.statSync(lockPath).mtimeMs > lockStaleMs
      if (!stale) return false
      fs.rmSync(lockPath, { force: true })
      create()
      return true
    } catch {
      // Someone else replaced the stale lock first: they spawn, we wait.
      return false
    }
  }
}

/** How large `hub.log` may grow: past it a spawn, or the running hub, moves it to `hub.log.1`. */
export const maxHubLogBytes = 4 * 1024 * 1024

/** Starts a hub detached; returns its pid. */
export const spawnHub = Effect.fn("Bootstrap.spawnHub")(function* (options: BootstrapOptions) {
  const [command, ...args] = options.command ?? hubCommand()
  if (command === undefined) return yield* hubUnreachable("no command to start a hub")
  const env = minimalEnv(options.env ?? process.env)
  env.RELAY_HOME ??= options.home
  env.RELAY_HUB_SOCKET ??= options.socketPath
  // The hub keeps its own log under the cap while it runs (see runtime/Logging.ts).
  env.RELAY_LOG_FILE = path.join(options.home, "hub.log")
  return yield* Effect.try({
    try: () => {
      fs.mkdirSync(options.home, { recursive: true, mode: 0o700 })
      const logPath = path.join(options.home, "hub.log")
      // Every spawned hub appends here; past the cap the old log becomes hub.log.1 (one generation).
      if ((fs.statSync(logPath, { throwIfNoEntry: false })?.size ?? 0) > maxHubLogBytes) fs.renameSync(logPath, `${logPath}.1`)
      const log = fs.openSync(logPath, "a", 0o600)
      try {
        const child = spawn(command, args, { detached: true, stdio: ["ignore", log, log], env, cwd: options.home })
        child.on("error", () => {})
        child.unref()
        return child.pid ?? -1
      } finally {
        fs.closeSync(log)
      }
    },
    catch: (error) => hubUnreachable(`could not start a hub with '${command}': ${String(error)}`)
  })
})

/** Returns once a hub answers on the socket, spawning one if needed. */
export const ensureHub = Effect.fn("Bootstrap.ensureHub")(function* (options: BootstrapOptions) {
  if (yield* probe(options.socketPath, "500 millis")) return
  const lockPath = path.join(options.home, "spawn.lock")
  yield* Effect.try({
    try: () => fs.mkdirSync(options.home, { recursive: true, mode: 0o700 }),
    catch: (error) => hubUnreachable(`cannot create ${options.home}: ${String(error)}`)
  })
  const locked = tryLock(lockPath)
  // A first start on a cold machine (Bun transpiling everything once) can take seconds.
  const waitTimeout = Duration.decode(options.waitTimeout ?? "15 seconds")
  const waitForHub = probe(options.socketPath, "500 millis").pipe(
    Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (answered) => answered }),
    Effect.timeoutFail({
      duration: waitTimeout,
      onTimeout: () =>
        new HubError({
          code: "hub_unreachable",
          message: `no hub answered at ${options.socketPath} within ${Duration.format(waitTimeout)}; see ${path.join(options.home, "hub.log")}`
        })
    })
  )
  if (!locked) return yield* Effect.asVoid(waitForHub)
  yield* spawnHub(options).pipe(
    Effect.tap((pid) => Effect.logInfo(`started a hub (pid ${pid})`)),
    Effect.zipRight(waitForHub),
    Effect.asVoid,
    Effect.ensuring(Effect.sync(() => fs.rmSync(lockPath, { force: true })))
  )
})
