/**
 * Shared pieces of the messaging suites: hubs and registered clients that are closed after each
 * test, and small readers for paged answers.
 */
import { afterEach, expect } from "vitest"
import { type Frame, NdjsonClient } from "../support/NdjsonClient.ts"
import type { TestHub } from "../support/TestHub.ts"

/** Tracks what a test opened so `afterEach` can close it, whatever the test's outcome. */
export const useCleanup = () => {
  const clients: Array<NdjsonClient> = []
  const hubs: Array<TestHub> = []
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close()
    for (const hub of hubs.splice(0)) await hub.stop()
  })
  return {
    hub: <H extends TestHub>(hub: H): H => {
      hubs.push(hub)
      return hub
    },
    /** A connection registered as `name` with protocol `version`. */
    peer: async (hub: TestHub, name: string, version: "5" | "6" = "5"): Promise<NdjsonClient> => {
      const client = await NdjsonClient.connect(hub.socketPath)
      clients.push(client)
      const answer = await client.register(name, { protocol_version: version })
      expect(answer, `register ${name}`).toMatchObject({ type: "ack" })
      return client
    },
    /** A connection that has not registered. */
    raw: async (hub: TestHub): Promise<NdjsonClient> => {
      const client = await NdjsonClient.connect(hub.socketPath)
      clients.push(client)
      return client
    }
  }
}

/** Writes every frame at once (pipelined), each with its own req_id, and returns the answers in order. */
export const pipeline = async (client: NdjsonClient, frames: ReadonlyArray<Record<string, unknown>>, prefix: string, timeoutMs = 15_000) => {
  const from = client.frames.length
  const ids = frames.map((_, i) => `${prefix}${i}`)
  client.writeRaw(frames.map((frame, i) => JSON.stringify({ ...frame, req_id: ids[i] }) + "\n").join(""))
  const last = ids[ids.length - 1]
  await client.waitFor((f) => f.req_id === last, timeoutMs, from)
  const byId = new Map(client.frames.slice(from).filter((f) => f.req_id !== undefined && f.type !== "ping").map((f) => [f.req_id!, f]))
  return ids.map((id) => byId.get(id)!)
}

/** Reads the whole unread inbox (pages of 100) as a v5 client does; `dropped` summed. */
export const drainInbox = async (client: NdjsonClient) => {
  const messages: Array<Frame> = []
  let dropped = 0
  for (;;) {
    const page = await client.request({ type: "inbox", limit: 100 })
    expect(page.type, JSON.stringify(page)).toBe("inbox_result")
    messages.push(...page.messages)
    dropped += page.dropped ?? 0
    if (page.remaining === 0) return { messages, dropped }
  }
}

/** Pushes of `type` that arrived at or after frame index `from`. */
export const pushesSince = (client: NdjsonClient, type: string, from = 0) => client.frames.slice(from).filter((f) => f.type === type)

/** Waits until `count` pushes of `type` arrived (from frame index `from`) and returns them. */
export const waitPushes = async (client: NdjsonClient, type: string, count: number, from = 0, timeoutMs = 10_000) => {
  await client.waitFor(() => pushesSince(client, type, from).length >= count, timeoutMs, from).catch((error) => {
    throw new Error(`expected ${count} ${type} pushes, got ${pushesSince(client, type, from).length}: ${String(error).slice(0, 400)}`)
  })
  return pushesSince(client, type, from)
}

/** A round trip on `client`: everything the hub wrote before the pong has arrived. */
export const settle = async (client: NdjsonClient) => {
  const pong = await client.request({ type: "ping" })
  expect(pong.type).toBe("pong")
}

export const isoTimestamp = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/
