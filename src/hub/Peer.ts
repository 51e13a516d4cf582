/**
 * A registered session as the rest of the hub sees it. The registry owns `name` (it changes on
 * rename, so other actors keep the reference, never a copy of the name); the session owns
 * `lastSeen`, which it bumps on every frame the peer sends.
 */
import { encodeFrame, type Frame } from "../protocol/Encode.ts"
import type { Connection } from "./Connection.ts"

export class Peer {
  name: string
  lastSeen: number
  /** Set while the registry waits for this peer to answer a name-collision probe. */
  probePending = false

  constructor(
    readonly connection: Connection,
    name: string,
    readonly cwd: string,
    readonly gitBranch: string,
    readonly protocolVersion: "5" | "6",
    now: number
  ) {
    this.name = name
    this.lastSeen = now
  }

  get id(): number {
    return this.connection.id
  }

  get transport() {
    return this.connection.transport
  }

  /** Queues a frame; `false` if the peer could not take it (closed, or cut off as too slow). */
  send(frame: Frame): boolean {
    return this.connection.send(encodeFrame(frame))
  }

  /** For fan-out: serialise once, queue to many. */
  sendLine(line: string): boolean {
    return this.connection.send(line)
  }

  close(reason: string): void {
    this.connection.close(reason)
  }

  isOpen(): boolean {
    return this.connection.isOpen()
  }
}
