/**
 * "The other peers" of a harness test: plain protocol-6 sessions on a hub's Unix socket, and an
 * observer that lists who is registered.
 */
import { NdjsonClient } from "./NdjsonClient.ts"

export interface PeerPanel {
  /** A registered protocol-6 peer. */
  peer(name: string): Promise<NdjsonClient>
  /** Names of the registered peers (the observer does not register), sorted. */
  peerNames(): Promise<Array<string>>
  close(): void
}

export const openPeerPanel = async (socketPath: string): Promise<PeerPanel> => {
  const clients: Array<NdjsonClient> = []
  const observer = await NdjsonClient.connect(socketPath)
  clients.push(observer)
  return {
    peer: async (name) => {
      const client = await NdjsonClient.connect(socketPath)
      clients.push(client)
      const ack = await client.register(name, { protocol_version: "6" })
      if (ack.type !== "ack") throw new Error(`could not register ${name}: ${JSON.stringify(ack)}`)
      return client
    },
    peerNames: async () =>
      ((await observer.request({ type: "list_peers" })).peers as Array<{ name: string }>).map((peer) => peer.name).sort(),
    close: () => {
      for (const client of clients) client.close()
    }
  }
}
