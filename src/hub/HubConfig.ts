/**
 * The hub's policy knobs, read once. Every cap that protects the hub from unbounded growth is here,
 * with a default that works without configuration.
 */
import { Config, ConfigError, Context, Duration, Effect, Either, Layer, Option } from "effect"
import * as os from "node:os"
import * as path from "node:path"
import { parseDuration } from "./DurationText.ts"

export interface HubConfigShape {
  /** Data directory: socket, database, token files. Created 0700. */
  readonly dataDir: string
  /** Unix socket path of this hub. */
  readonly socketPath: string
  /** Identifies this hub to federated hubs and in `name@hub_id`. */
  readonly hubId: string
  /** Exit when no connection of any transport has been open this long; `None` = serve forever. */
  readonly idleExit: Option.Option<Duration.Duration>
  /** How long the holder of a name has to answer the collision probe before it is evicted. */
  readonly probeTimeout: Duration.Duration
  /** How often every peer is pinged by the liveness sweep. */
  readonly sweepInterval: Duration.Duration
  /** How long a swept peer has to show any sign of life. */
  readonly sweepTimeout: Duration.Duration
  /** How long a broadcast's open asks accept replies. */
  readonly askTtl: Duration.Duration
  readonly maxOpenAsks: number
  readonly maxPeers: number
  readonly maxConnections: number
  readonly maxRooms: number
  readonly maxRoomMembers: number
  /** Bytes queued towards one connection before it is disconnected as a slow consumer. */
  readonly maxOutboundBytes: number
  /** Direct messages kept per recipient; older unread ones are dropped and the recipient told. */
  readonly mailboxCap: number
  /** Messages kept per group. */
  readonly groupCap: number
  /** Direct and group messages stored in all; past it a send is refused with a clear error. */
  readonly maxStoredMessages: number
  /**
   * When an acknowledged message is safe: `normal` — once committed to the WAL (survives the hub
   * crashing or being killed); `full` — once fsynced (survives power loss too, at a few ms a commit).
   */
  readonly sync: "normal" | "full"
  /** Direct messages older than this are removed (see docs/delivery.md). */
  readonly retention: Duration.Duration
  /** Groups in all, and members per group. */
  readonly maxGroups: number
  readonly maxGroupMembers: number
  /** Loopback WebSocket port; `None` = no WebSocket endpoint, `Some(0)` = any free port (tests). */
  readonly websocketPort: Option.Option<number>
  /** The WebSocket auth token; `None` = the one in `<dataDir>/ws.token`, created on first start. */
  readonly websocketToken: Option.Option<string>
  /** How long a WebSocket client has to send its auth frame. */
  readonly authTimeout: Duration.Duration
}

export class HubConfig extends Context.Tag("relay/HubConfig")<HubConfig, HubConfigShape>() {
  static readonly defaults = (dataDir = defaultDataDir()): HubConfigShape => ({
    dataDir,
    socketPath: path.join(dataDir, "hub.sock"),
    hubId: defaultHubId(),
    idleExit: Option.none(),
    probeTimeout: Duration.millis(500),
    sweepInterval: Duration.seconds(30),
    sweepTimeout: Duration.seconds(1),
    askTtl: Duration.minutes(10),
    maxOpenAsks: 10_000,
    maxPeers: 1_000,
    maxConnections: 2_000,
    maxRooms: 50,
    maxRoomMembers: 20,
    maxOutboundBytes: 8 * 1024 * 1024,
    mailboxCap: 500,
    groupCap: 500,
    maxStoredMessages: 200_000,
    sync: "normal",
    retention: Duration.days(30),
    maxGroups: 1_000,
    maxGroupMembers: 100,
    websocketPort: Option.some(9376),
    websocketToken: Option.none(),
    authTimeout: Duration.seconds(5)
  })

  /** Defaults with some fields replaced; `socketPath` follows `dataDir` unless given. */
  static readonly layer = (overrides: Partial<HubConfigShape> = {}) =>
    Layer.succeed(HubConfig, HubConfig.resolve(overrides))

  static readonly resolve = (overrides: Partial<HubConfigShape> = {}): HubConfigShape => {
    const base = HubConfig.defaults(overrides.dataDir)
    return { ...base, ...overrides }
  }

  /**
   * `RELAY_HOME`, `RELAY_HUB_SOCKET`, `RELAY_HUB_ID`, and the tuning knobs in `envKnobs` (unset means
   * the default); `overrides` win over the environment.
   */
  static readonly layerFromEnv = (overrides: Partial<HubConfigShape> = {}) =>
    Layer.effect(
      HubConfig,
      Effect.gen(function* () {
        const dataDir = yield* Config.string("RELAY_HOME").pipe(Config.withDefault(defaultDataDir()))
        const socketPath = yield* Config.string("RELAY_HUB_SOCKET").pipe(Config.option)
        const hubId = yield* Config.string("RELAY_HUB_ID").pipe(Config.option)
        const wsPort = yield* Config.option(portVar("RELAY_WS_PORT"))
        const wsToken = yield* Config.option(Config.nonEmptyString("RELAY_WS_TOKEN"))
        const sync = yield* Config.option(Config.literal("normal", "full")("RELAY_SYNC"))
        const knobs: Record<string, unknown> = {}
        for (const [field, knob] of Object.entries(envKnobs)) {
          const variable: Config.Config<unknown> = knob.kind === "duration" ? durationVar(knob.env) : countVar(knob.env)
          const value = yield* Config.option(variable)
          if (Option.isSome(value)) knobs[field] = value.value
        }
        return HubConfig.resolve({
          dataDir: path.resolve(dataDir),
          ...Option.match(socketPath, { onNone: () => ({}), onSome: (p) => ({ socketPath: path.resolve(p) }) }),
          ...Option.match(hubId, { onNone: () => ({}), onSome: (id) => ({ hubId: id }) }),
          // RELAY_WS_PORT=0 turns the WebSocket endpoint off; `auto` takes any free port.
          ...Option.match(wsPort, { onNone: () => ({}), onSome: (port) => ({ websocketPort: port === -1 ? Option.none() : Option.some(port) }) }),
          ...Option.match(wsToken, { onNone: () => ({}), onSome: (token) => ({ websocketToken: Option.some(token) }) }),
          ...Option.match(sync, { onNone: () => ({}), onSome: (mode) => ({ sync: mode }) }),
          ...(knobs as Partial<HubConfigShape>),
          ...overrides
        })
      })
    )
}

/**
 * Policy knobs a standalone hub reads from its environment (operators tune them; the process tests
 * use them for short sweep and probe timings). Documented in the `relay help` text.
 */
export const envKnobs = {
  probeTimeout: { env: "RELAY_PROBE_TIMEOUT", kind: "duration" },
  sweepInterval: { env: "RELAY_SWEEP_INTERVAL", kind: "duration" },
  sweepTimeout: { env: "RELAY_SWEEP_TIMEOUT", kind: "duration" },
  askTtl: { env: "RELAY_ASK_TTL", kind: "duration" },
  maxOpenAsks: { env: "RELAY_MAX_OPEN_ASKS", kind: "count" },
  maxPeers: { env: "RELAY_MAX_PEERS", kind: "count" },
  maxConnections: { env: "RELAY_MAX_CONNECTIONS", kind: "count" },
  maxRooms: { env: "RELAY_MAX_ROOMS", kind: "count" },
  maxRoomMembers: { env: "RELAY_MAX_ROOM_MEMBERS", kind: "count" },
  maxOutboundBytes: { env: "RELAY_MAX_OUTBOUND_BYTES", kind: "count" },
  authTimeout: { env: "RELAY_AUTH_TIMEOUT", kind: "duration" }
} as const satisfies Partial<Record<keyof HubConfigShape, { env: string; kind: "duration" | "count" }>>

/** The same duration grammar as the `relay` flags (see `DurationText.ts`). */
const durationVar = (name: string) =>
  Config.string(name).pipe(
    Config.mapOrFail((raw) =>
      Either.flatMap(
        Either.mapLeft(parseDuration(raw), (why) => ConfigError.InvalidData([name], `${name}: ${why}`)),
        // Zero would turn a sweep into a busy loop and a probe into instant eviction.
        (d) => (Duration.toMillis(d) > 0 ? Either.right(d) : Either.left(ConfigError.InvalidData([name], `${name}='${raw}' must be longer than 0`)))
      )
    )
  )

/** A port number, `0` (off, returned as -1) or `auto` (any free port, returned as 0). */
const portVar = (name: string) =>
  Config.string(name).pipe(
    Config.mapOrFail((raw) => {
      const value = raw.trim()
      if (value === "auto") return Either.right(0)
      if (/^\d+$/.test(value) && Number(value) <= 65535) return Either.right(Number(value) === 0 ? -1 : Number(value))
      return Either.left(
        ConfigError.InvalidData([name], `${name}='${raw}' must be a port number, 0 (endpoint off) or auto (any free port)`)
      )
    })
  )

const countVar = (name: string) =>
  Config.string(name).pipe(
    Config.mapOrFail((raw) =>
      /^\d+$/.test(raw.trim()) && Number(raw) >= 1
        ? Either.right(Number(raw))
        : Either.left(ConfigError.InvalidData([name], `${name}='${raw}' must be a whole number of at least 1`))
    )
  )

export const defaultDataDir = () => path.join(os.homedir(), ".relay")

/** The host name, reduced to the characters a hub id may hold. */
const defaultHubId = () => {
  const slug = os.hostname().replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64)
  return slug.length > 0 ? slug : "hub"
}
