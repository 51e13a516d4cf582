/**
 * A deliberately plain protocol client for tests: raw lines over a real Unix socket, frames kept in
 * arrival order, waits by predicate. It knows nothing of the hub's code, so tests see exactly what
 * a third-party client would.
 */
import * as net from "node:net"

export type Frame = { type: string; req_id?: string } & Record<string, any>

export class NdjsonClient {
  readonly frames: Array<Frame> = []
  readonly rawLines: Array<string> = []
  private buffer = ""
  private waiters: Array<() => void> = []
  private reqCounter = 0
  closed = false
  /** Answer hub pings automatically (a live session does). */
  autoPong = true

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding("utf8")
    socket.on("data", (chunk: string) => {
      this.buffer += chunk
      let index: number
      while ((index = this.buffer.indexOf("\n")) !== -1) {
        const line = this.buffer.slice(0, index)
        this.buffer = this.buffer.slice(index + 1)
        this.rawLines.push(line)
        const frame = JSON.parse(line) as Frame
        this.frames.push(frame)
        if (this.autoPong && frame.type === "ping") this.write({ type: "pong", req_id: frame.req_id })
      }
      this.notify()
    })
    socket.on("close", () => {
      this.closed = true
      this.notify()
    })
    socket.on("error", () => {})
  }

  static connect(path: string): Promise<NdjsonClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path)
      socket.once("connect", () => resolve(new NdjsonClient(socket)))
      socket.once("error", reject)
    })
  }

  private notify() {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  write(frame: Record<string, unknown>): void {
    this.socket.write(JSON.stringify(frame) + "\n")
  }

  writeRaw(data: string | Uint8Array): void {
    this.socket.write(data)
  }

  /** Waits for a frame matching `predicate` that arrived at or after index `from`. */
  async waitFor(predicate: (frame: Frame) => boolean, timeoutMs = 5000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.frames.slice(from).find(predicate)
      if (found) return found
      if (this.closed) throw new Error(`connection closed while waiting; frames: ${JSON.stringify(this.frames)}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for a frame; frames: ${JSON.stringify(this.frames).slice(0, 2000)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("connection did not close")
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** Sends a request with a fresh req_id and returns its answer. */
  async request(frame: Record<string, unknown>, timeoutMs = 5000): Promise<Frame> {
    const req_id = `t${++this.reqCounter}`
    const from = this.frames.length
    this.write({ ...frame, req_id })
    return this.waitFor((f) => f.req_id === req_id && f.type !== "ping", timeoutMs, from)
  }

  async register(name: string, extra: Record<string, unknown> = {}): Promise<Frame> {
    return this.request({ type: "register", name, cwd: "/work/" + name, git_branch: "main", protocol_version: "5", ...extra })
  }

  pushes(type: string): Array<Frame> {
    return this.frames.filter((f) => f.type === type)
  }

  close(): void {
    this.socket.destroy()
  }
}
