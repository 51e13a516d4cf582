/**
 * What the adapter tests share: a real in-process hub with its WebSocket endpoint, a plain
 * protocol client for "the other peer", and polling.
 */
import * as fs from "node:fs"
import { NdjsonClient } from "../support/NdjsonClient.ts"
import { type InProcessHub, startInProcessHub } from "../support/TestHub.ts"

export const waitUntil = async <A>(what: string, check: () => A | undefined | Promise<A | undefined>, timeoutMs = 8000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

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
  const clients: Array<NdjsonClient> = []
  const observer = await NdjsonClient.connect(hub.socketPath)
  clients.push(observer)
  return {
    hub,
    env: { RELAY_HOME: hub.dataDir, RELAY_AUTOSPAWN: "0", RELAY_LOG_LEVEL: "error" },
    peer: async (name) => {
      const client = await NdjsonClient.connect(hub.socketPath)
      clients.push(client)
      const ack = await client.register(name, { protocol_version: "6" })
      if (ack.type !== "ack") throw new Error(`could not register ${name}: ${JSON.stringify(ack)}`)
      return client
    },
    peerNames: async () => {
      const reply = await observer.request({ type: "list_peers" })
      return (reply.peers as Array<{ name: string }>).map((peer) => peer.name).sort()
    },
    stop: async () => {
      for (const client of clients) client.close()
      await hub.stop()
      fs.rmSync(hub.dataDir, { recursive: true, force: true })
    }
  }
}
