/**
 * What the adapter tests share: a real in-process hub with its WebSocket endpoint, a plain
 * protocol client for "the other peer", and polling.
 */
import * as fs from "node:fs"
import type { NdjsonClient } from "../support/NdjsonClient.ts"
import { openPeerPanel } from "../support/PeerPanel.ts"
import { type InProcessHub, startInProcessHub } from "../support/TestHub.ts"

export { waitFor as waitUntil } from "../support/Poll.ts"

export interface AdapterHub {
  readonly hub: InProcessHub
  /** The environment an adapter gets: this hub's data directory, never spawn another. */
  readonly env: Record<string, string>
  /** A registered protocol-6 peer over the Unix socket. */
  peer(name: string): Promise<NdjsonClient>
  /** Names of the registered peers, as another peer sees them. */
  peerNames(): Promise<Array<string>>
  stop(): Promise<void>
}

export const startAdapterHub = async (): Promise<AdapterHub> => {
  const hub = await startInProcessHub({}, { websocket: true })
  const panel = await openPeerPanel(hub.socketPath)
  return {
    hub,
    env: { RELAY_HOME: hub.dataDir, RELAY_AUTOSPAWN: "0", RELAY_LOG_LEVEL: "error" },
    peer: panel.peer,
    peerNames: panel.peerNames,
    stop: async () => {
      panel.close()
      await hub.stop()
      fs.rmSync(hub.dataDir, { recursive: true, force: true })
    }
  }
}
