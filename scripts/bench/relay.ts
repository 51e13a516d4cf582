/**
 * The baseline: a bare NDJSON relay, the physical limit of this transport on this runtime. It does
 * what the hub must do at the least — read lines from the sender, write each to the receiver, answer
 * the sender once per line — with writes coalesced per read, and nothing else: no parsing, no
 * storage, no routing decisions. The first line of a connection registers it (answered `ack`, so
 * the same sender and receiver drive it as drive the hub); every later line goes to `to`.
 *
 * `api`: `bun` uses `Bun.listen` (Bun's native sockets), `net` uses `node:net` (what the hub uses).
 */
import * as net from "node:net"
import { report } from "./Common.ts"

interface RelayConfig {
  readonly socket: string
  readonly to: string
  readonly api: "bun" | "net"
}

const config = JSON.parse(process.argv[2]!) as RelayConfig
const ack = '{"type":"ack"}\n'

interface Side {
  write: (data: string) => void
}

const targets = new Map<string, Side>()

/** Splits a read into lines; returns the forwarded text and how many lines it held. */
const makeConnection = (side: Side) => {
  let carry = ""
  let registered = false
  return (chunk: string) => {
    const parts = (carry + chunk).split("\n")
    carry = parts.pop()!
    let start = 0
    if (!registered && parts.length > 0) {
      registered = true
      const name = /"name":"([^"]*)"/.exec(parts[0]!)?.[1] ?? ""
      targets.set(name, side)
      side.write(ack)
      start = 1
    }
    const lines = parts.length - start
    if (lines <= 0) return
    const target = targets.get(config.to)
    target?.write(parts.slice(start).join("\n") + "\n")
    side.write(ack.repeat(lines))
  }
}

if (config.api === "net") {
  const server = net.createServer((socket) => {
    socket.setEncoding("utf8")
    const onChunk = makeConnection({ write: (data) => void socket.write(data) })
    socket.on("data", (chunk: string) => onChunk(chunk))
    socket.on("error", () => {})
  })
  server.listen(config.socket, () => report({ type: "ready" }))
} else {
  /** Bun sockets take what the kernel takes; the rest waits here until `drain`. */
  interface State {
    pending: Array<Uint8Array>
    onChunk: (chunk: string) => void
    decoder: TextDecoder
  }
  const encoder = new TextEncoder()
  const flush = (socket: Bun.Socket<State>) => {
    const state = socket.data
    while (state.pending.length > 0) {
      const head = state.pending[0]!
      const written = socket.write(head)
      if (written < head.length) {
        state.pending[0] = head.subarray(Math.max(0, written))
        return
      }
      state.pending.shift()
    }
  }
  Bun.listen<State>({
    unix: config.socket,
    socket: {
      open(socket) {
        const state: State = { pending: [], decoder: new TextDecoder(), onChunk: () => {} }
        socket.data = state
        state.onChunk = makeConnection({
          write: (data) => {
            const bytes = encoder.encode(data)
            if (state.pending.length > 0) return void state.pending.push(bytes)
            const written = socket.write(bytes)
            if (written < bytes.length) state.pending.push(bytes.subarray(Math.max(0, written)))
          }
        })
      },
      data(socket, chunk) {
        socket.data.onChunk(socket.data.decoder.decode(chunk, { stream: true }))
      },
      drain(socket) {
        flush(socket)
      },
      error() {}
    }
  })
  report({ type: "ready" })
}
