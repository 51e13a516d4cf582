/**
 * The WebSocket twin of `NdjsonClient`: the same methods, over a real WebSocket to the hub's
 * loopback endpoint (auth frame first), so a suite written against one runs over both transports.
 */
import { WebSocket } from "ws"
import { FrameRecorder } from "./FrameRecorder.ts"

export class WsClient extends FrameRecorder {
  closeCode: number | undefined
  closeReason: string | undefined

  private constructor(readonly socket: WebSocket) {
    super("w")
    socket.on("message", (data) => {
      for (const line of data.toString().split("\n")) if (line.trim() !== "") this.ingest(line)
      this.notify()
    })
    socket.on("close", (code, reason) => {
      this.closeCode = code
      this.closeReason = reason.toString()
      this.markClosed()
    })
    socket.on("error", () => {})
  }

  protected override describeClose(): string {
    return `connection closed (${this.closeCode} ${this.closeReason})`
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

  write(frame: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(frame))
  }

  writeRaw(data: string): void {
    this.socket.send(data)
  }

  close(): void {
    this.socket.terminate()
  }
}
