/**
 * A hub played by the test on a real Unix socket: it answers by script and records every frame,
 * per connection. For hub-client tests that need a hub to misbehave in exact ways.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"

export type Frame = { type: string; req_id?: string } & Record<string, any>

/** A hub that answers by script and records every frame, per connection. */
export class ScriptedHub {
  readonly connections: Array<{ socket: net.Socket; frames: Array<Frame>; closed: boolean }> = []
  private server: net.Server | undefined
  private waiters: Array<() => void> = []

  constructor(
    readonly socketPath: string,
    private readonly answer: (frame: Frame, connection: number, hub: ScriptedHub) => Frame | undefined
  ) {}

  start(): Promise<void> {
    const server = net.createServer((socket) => {
      const entry = { socket, frames: [] as Array<Frame>, closed: false }
      const index = this.connections.push(entry) - 1
      let buffer = ""
      socket.on("error", () => {})
      socket.on("close", () => {
        entry.closed = true
        this.wake()
      })
      socket.on("data", (chunk) => {
        buffer += chunk.toString()
        let newline: number
        while ((newline = buffer.indexOf("\n")) !== -1) {
          const frame = JSON.parse(buffer.slice(0, newline)) as Frame
          buffer = buffer.slice(newline + 1)
          entry.frames.push(frame)
          const reply = this.answer(frame, index, this)
          if (reply !== undefined) socket.write(`${JSON.stringify(reply)}\n`)
        }
        this.wake()
      })
      this.wake()
    })
    this.server = server
    return new Promise((resolve) => server.listen(this.socketPath, resolve))
  }

  send(connection: number, frame: Frame) {
    this.connections[connection]!.socket.write(`${JSON.stringify(frame)}\n`)
  }

  async stop(): Promise<void> {
    for (const { socket } of this.connections) socket.destroy()
    await new Promise((resolve) => this.server?.close(resolve))
  }

  dropAll() {
    for (const { socket } of this.connections) socket.destroy()
  }

  private wake() {
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) waiter()
  }

  /** Resolves once `check` holds (re-checked on every frame and connection). */
  until(check: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const test = () => (check() ? resolve() : this.waiters.push(test))
      test()
    })
  }

  frames(connection: number): Array<Frame> {
    return this.connections[connection]?.frames ?? []
  }
}

/** The answers a well-behaved hub gives to the handshake and the usual requests. */
export const standard = (frame: Frame): Frame | undefined => {
  switch (frame.type) {
    case "hello":
      return { type: "welcome", hub_version: "test", req_id: frame.req_id }
    case "register":
    case "rename":
    case "leave_room":
      return { type: "ack", req_id: frame.req_id }
    case "join_room":
      return { type: "room_ack", room: frame.room, members: ["me"], req_id: frame.req_id }
    case "list_peers":
      return { type: "peers", peers: [], req_id: frame.req_id }
    default:
      return undefined
  }
}

export const socketPath = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "relay-hc-")), "hub.sock")

export const withHub = (answer: ConstructorParameters<typeof ScriptedHub>[1]) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const hub = new ScriptedHub(socketPath(), answer)
      await hub.start()
      return hub
    }),
    (hub) => Effect.promise(() => hub.stop())
  )
