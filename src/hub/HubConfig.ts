/**
 * The hub's policy knobs, read once. Every cap that protects the hub from unbounded growth is here,
 * with a default that works without configuration.
 */
import { Config, Context, Duration, Effect, Layer, Option } from "effect"
import * as os from "node:os"
import * as path from "node:path"

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
    maxOutboundBytes: 8 * 1024 * 1024
  })

  /** Defaults with some fields replaced; `socketPath` follows `dataDir` unless given. */
  static readonly layer = (overrides: Partial<HubConfigShape> = {}) =>
    Layer.succeed(HubConfig, HubConfig.resolve(overrides))

  static readonly resolve = (overrides: Partial<HubConfigShape> = {}): HubConfigShape => {
    const base = HubConfig.defaults(overrides.dataDir)
    return { ...base, ...overrides }
  }

  /** `RELAY_HOME`, `RELAY_HUB_SOCKET`, `RELAY_HUB_ID`; everything else from `overrides` or defaults. */
  static readonly layerFromEnv = (overrides: Partial<HubConfigShape> = {}) =>
    Layer.effect(
      HubConfig,
      Effect.gen(function* () {
        const dataDir = yield* Config.string("RELAY_HOME").pipe(Config.withDefault(defaultDataDir()))
        const socketPath = yield* Config.string("RELAY_HUB_SOCKET").pipe(Config.option)
        const hubId = yield* Config.string("RELAY_HUB_ID").pipe(Config.option)
        return HubConfig.resolve({
          dataDir: path.resolve(dataDir),
          ...Option.match(socketPath, { onNone: () => ({}), onSome: (p) => ({ socketPath: path.resolve(p) }) }),
          ...Option.match(hubId, { onNone: () => ({}), onSome: (id) => ({ hubId: id }) }),
          ...overrides
        })
      })
    )
}

export const defaultDataDir = () => path.join(os.homedir(), ".relay")

/** The host name, reduced to the characters a hub id may hold. */
const defaultHubId = () => {
  const slug = os.hostname().replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64)
  return slug.length > 0 ? slug : "hub"
}
