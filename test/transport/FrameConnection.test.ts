/**
 * The inbound bound of a message-framed connection: frames wait while the session works, but a
 * client may not park more than the frame or byte cap there.
 */
import { describe, expect, it } from "vitest"
import { makeFrameConnection } from "../../src/transport/FrameConnection.ts"

const fakeIo = () => {
  const closes: Array<[number, string]> = []
  return {
    closes,
    io: { send: () => true, bufferedAmount: () => 0, close: (code: number, reason: string) => void closes.push([code, reason]) }
  }
}

describe("FrameConnection inbound caps", () => {
  it("closes with 1008 once unprocessed frames pass the byte cap, not before", () => {
    const { closes, io } = fakeIo()
    const connection = makeFrameConnection(io, { transport: "websocket", maxOutboundBytes: 1 << 20, maxQueuedFrames: 1024, maxQueuedBytes: 3_000 })
    connection.receive("a".repeat(1_000))
    connection.receive("b".repeat(1_000))
    connection.receive("c".repeat(1_000))
    expect(connection.isOpen()).toBe(true)
    connection.receive("d")
    expect(connection.isOpen()).toBe(false)
    expect(closes).toHaveLength(1)
    expect(closes[0]![0]).toBe(1008)
    expect(closes[0]![1]).toContain("3000 bytes")
  })

  it("closes with 1008 once unprocessed frames pass the frame cap", () => {
    const { closes, io } = fakeIo()
    const connection = makeFrameConnection(io, { transport: "websocket", maxOutboundBytes: 1 << 20, maxQueuedFrames: 3, maxQueuedBytes: 1 << 20 })
    for (let i = 0; i < 3; i++) connection.receive("{}")
    expect(connection.isOpen()).toBe(true)
    connection.receive("{}")
    expect(closes.map(([code]) => code)).toEqual([1008])
  })

  it("a frame the transport refuses closes the connection instead of being lost quietly", () => {
    const closes: Array<[number, string]> = []
    const connection = makeFrameConnection(
      { send: () => false, bufferedAmount: () => 0, close: (code, reason) => void closes.push([code, reason]) },
      { transport: "websocket", maxOutboundBytes: 1 << 20, maxQueuedFrames: 8, maxQueuedBytes: 1 << 20 }
    )
    expect(connection.send('{"type":"pong"}')).toBe(false)
    expect(connection.isOpen()).toBe(false)
    expect(closes[0]![0]).toBe(1008)
  })
})
