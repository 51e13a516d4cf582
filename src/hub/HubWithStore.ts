/**
 * The complete hub as one layer: actors, store-backed messaging, the SQLite store in the data
 * directory. Needs only a `HubConfig` (the data directory must exist). Add transport layers to
 * serve it; this is what `relay hub` runs and what an embedding program provides.
 */
import { Layer } from "effect"
import * as Hub from "./Hub.ts"
import * as StoredMessaging from "./StoredMessaging.ts"

export const hubWithStore = Hub.layerWith(StoredMessaging.layer.pipe(Layer.provide(StoredMessaging.layerSqliteStore)))
