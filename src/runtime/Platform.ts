/**
 * What differs between running on Bun and on Node, chosen once by the entry point (`bun.ts`,
 * `node.ts`) and used by the programs it starts.
 */
import { Context, type Layer } from "effect"
import type { Hub } from "../hub/Hub.ts"
import type { HubConfig } from "../hub/HubConfig.ts"
import type { WebSocketEndpoint, WebSocketListenError } from "../transport/WebSocketEndpoint.ts"

export class Platform extends Context.Tag("relay/Platform")<
  Platform,
  {
    readonly name: "bun" | "node"
    /** The WebSocket acceptor that fits this runtime. */
    readonly websocket: Layer.Layer<WebSocketEndpoint, WebSocketListenError, Hub | HubConfig>
  }
>() {}
