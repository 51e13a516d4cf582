/**
 * What both test clients (`NdjsonClient` over the Unix socket, `WsClient` over WebSocket) do with
 * the hub's frames: keep them in arrival order, answer pings like a live session, and let a test
 * wait for a frame or send a request and get its answer.
 */
export type Frame = { type: string; req_id?: string } & Record<string, any>

export abstract class FrameRecorder {
  readonly frames: Array<Frame> = []
  readonly rawLines: Array<string> = []
  closed = false
  /** Answer hub pings automatically (a live session does). */
  autoPong = true
  private waiters: Array<() => void> = []
  private reqCounter = 0

  constructor(private readonly reqPrefix: string) {}

  abstract write(frame: Record<string, unknown>): void
  abstract close(): void

  /** One line from the hub. */
  protected ingest(line: string): void {
    this.rawLines.push(line)
    const frame = JSON.parse(line) as Frame
    this.frames.push(frame)
    if (this.autoPong && frame.type === "ping") this.write({ type: "pong", req_id: frame.req_id })
  }

  protected markClosed(): void {
    this.closed = true
    this.notify()
  }

  protected notify(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  protected describeClose(): string {
    return "connection closed"
  }

  private wait(deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
      this.waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  /** Waits for a frame matching `predicate` that arrived at or after index `from`. */
  async waitFor(predicate: (frame: Frame) => boolean, timeoutMs = 5000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.frames.slice(from).find(predicate)
      if (found) return found
      if (this.closed) throw new Error(`${this.describeClose()} while waiting; frames: ${JSON.stringify(this.frames)}`)
      if (Date.now() >= deadline) throw new Error(`timed out waiting for a frame; frames: ${JSON.stringify(this.frames).slice(0, 2000)}`)
      await this.wait(deadline)
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("connection did not close")
      await this.wait(deadline)
    }
  }

  /** Sends a request with a fresh req_id and returns its answer. */
  async request(frame: Record<string, unknown>, timeoutMs = 5000): Promise<Frame> {
    const req_id = `${this.reqPrefix}${++this.reqCounter}`
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
}
