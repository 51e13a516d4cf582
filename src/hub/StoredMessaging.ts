/**
 * `Messaging` backed by the `Store`: direct messages through mailbox actors, groups through group
 * actors. This is what a standalone hub runs.
 */
import { Duration, Effect, Layer, Option, Schedule } from "effect"
import * as path from "node:path"
import * as SqliteStore from "../store/SqliteStore.ts"
import { Store } from "../store/Store.ts"
import * as DirectMessages from "./DirectMessages.ts"
import * as Groups from "./Groups.ts"
import { HubConfig } from "./HubConfig.ts"
import { Messaging } from "./Messaging.ts"
import { Registry } from "./Registry.ts"

export const layer: Layer.Layer<Messaging, never, Store | Registry | HubConfig> = Layer.scoped(
  Messaging,
  Effect.gen(function* () {
    const direct = yield* DirectMessages.make
    const groups = yield* Groups.make
    const store = yield* Store

    const notice = yield* store.recoveryNotice
    if (Option.isSome(notice)) yield* Effect.logError("message store recovered from a damaged file", { notice: notice.value })
    // What an acknowledgement means on this hub (`fsync`) is worth one line at start.
    yield* store.stats.pipe(
      Effect.flatMap((stats) =>
        Effect.logInfo("message store open", {
          path: stats.path,
          driver: stats.driver,
          fsync: stats.fsync,
          directMessages: stats.directMessages,
          groupMessages: stats.groupMessages,
          groups: stats.groups
        })
      ),
      Effect.catchAll((error) => Effect.logWarning("could not read the message store's stats", { error: error.message }))
    )

    // Retention runs hourly (and once at start): old direct messages go, counted in the log.
    yield* store.pruneRetention(new Date()).pipe(
      Effect.tap(({ removed }) => (removed > 0 ? Effect.logInfo("retention removed old direct messages", { removed }) : Effect.void)),
      Effect.catchAll((error) => Effect.logWarning("retention pass failed", { error: error.message })),
      Effect.repeat(Schedule.spaced(Duration.hours(1))),
      Effect.forkScoped
    )

    return Messaging.of({ ...direct, ...groups })
  })
)

/** The SQLite store a standalone hub uses: `relay.db` in the data directory, caps from `HubConfig`. */
export const layerSqliteStore = Layer.unwrapEffect(
  Effect.map(HubConfig, (config) =>
    SqliteStore.layerSqlite({
      path: path.join(config.dataDir, "relay.db"),
      mailboxCap: config.mailboxCap,
      groupCap: config.groupCap,
      maxMessages: config.maxStoredMessages,
      retention: config.retention,
      synchronous: config.sync
    })
  )
)
