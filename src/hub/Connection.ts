/**
 * What every transport hands the hub: a stream of lines in and a bounded, non-blocking way out.
 * The session handler works on this alone and never learns which transport carries it.
 */
import type { Stream } from "effect"

export type TransportName = "unix" | "websocket" | "memory"

export interface Connection {
  /** Unique for the life of the hub process; used in logs and as the peer's identity. */
  readonly id: number
  readonly transport: TransportName
  /**
   * Complete lines (or text frames) in arrival order. It ends when the other side closes or the
   * transport gives up on the framing (it has then already sent the client an `err`).
   */
  readonly lines: Stream.Stream<string>
  /**
   * Queues one serialised frame without waiting. `false` means it was not queued: the connection is
   * closed, or this line would take its outbound buffer past the cap and the connection has been
   * closed as a slow consumer. Nothing is ever dropped while the connection stays open.
   */
  readonly send: (line: string) => boolean
  /** Closes the connection after flushing what is queued; `reason` is logged. */
  readonly close: (reason: string) => void
  readonly isOpen: () => boolean
}

let nextConnectionId = 1
export const allocateConnectionId = (): number => nextConnectionId++
