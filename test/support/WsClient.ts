/**
 * The WebSocket twin of `NdjsonClient`: the same methods, over a real WebSocket to the hub's
 * loopback endpoint (auth frame first), so a suite written against one runs over both transports.
 */
import { WebSocket } from "ws"
import type { Frame } from "./NdjsonClient.ts"

export class WsClient {
  readonly frames: Array<Frame> = []
  readonly rawLines: Array<string> = []
  private waiters: Array<() => void> = []
  private reqCounter = 0
  closed = false
  closeCode: number | undefined
  closeReason: string | undefined
  autoPong = true

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data) => {
      for (const line of data.toString().split("\n")) {
        if (line.trim() === "") continue
        this.rawLines.push(line)
        const frame = JSON.parse(line) as Frame
        this.frames.push(frame)
        if (this.autoPong && frame.type === "ping") this.write({ type: "pong", req_id: frame.req_id })
      }
      this.notify()
    })
    socket.on("close", (code, reason) => {
      this.closed = true
      this.closeCode = code
      this.closeReason = reason.toString()
      this.notify()
    })
    socket.on("error", () => {})
  }

  /** Opens the socket; sends `{"auth":token}` unless `auth` is `false` (or a raw first frame). */
  static connect(
    url: string,
    token: string,
    options: { auth?: false | string; headers?: Record<string, string> } = {}
  ): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers: options.headers ?? {} })
      socket.once("open", () => {
        const client = new WsClient(socket)
        if (options.auth !== false) socket.send(options.auth ?? JSON.stringify({ auth: token }))
        resolve(client)
      })
      socket.once("unexpected-response", (_, response) => reject(new Error(`HTTP ${response.statusCode}`)))
      socket.once("error", reject)
    })
  }

  private notify() {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  write(frame: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(frame))
  }

  writeRaw(data: string): void {
    this.socket.send(data)
  }

  async waitFor(predicate: (frame: Frame) => boolean, timeoutMs = 5000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.frames.slice(from).find(predicate)
      if (found) return found
      if (this.closed) throw new Error(`connection closed (${this.closeCode} ${this.closeReason}) while waiting; frames: ${JSON.stringify(this.frames)}`)
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

  async request(frame: Record<string, unknown>, timeoutMs = 5000): Promise<Frame> {
    const req_id = `w${++this.reqCounter}`
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
    this.socket.terminate()
  }
}
