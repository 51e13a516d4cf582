/**
 * A deliberately plain protocol client for tests: raw lines over a real Unix socket. It knows
 * nothing of the hub's code, so tests see exactly what a third-party client would.
 */
import * as net from "node:net"
import { FrameRecorder } from "./FrameRecorder.ts"

export type { Frame } from "./FrameRecorder.ts"

export class NdjsonClient extends FrameRecorder {
  private buffer = ""

  private constructor(readonly socket: net.Socket) {
    super("t")
    socket.setEncoding("utf8")
    socket.on("data", (chunk: string) => {
      this.buffer += chunk
      let index: number
      while ((index = this.buffer.indexOf("\n")) !== -1) {
        const line = this.buffer.slice(0, index)
        this.buffer = this.buffer.slice(index + 1)
        this.ingest(line)
      }
      this.notify()
    })
    socket.on("close", () => this.markClosed())
    socket.on("error", () => {})
  }

  static connect(path: string): Promise<NdjsonClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path)
      socket.once("connect", () => resolve(new NdjsonClient(socket)))
      socket.once("error", reject)
    })
  }

  write(frame: Record<string, unknown>): void {
    this.socket.write(JSON.stringify(frame) + "\n")
  }

  writeRaw(data: string | Uint8Array): void {
    this.socket.write(data)
  }

  close(): void {
    this.socket.destroy()
  }
}
