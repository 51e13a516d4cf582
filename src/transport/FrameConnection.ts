/**
 * A `Connection` over a message-framed transport (WebSocket): each text frame carries one or more
 * NDJSON lines. The acceptor feeds frames in with `receive` and says how to send and close.
 *
 * Frames wait in a bounded queue while the session works; a client that keeps more than
 * `maxQueuedFrames` frames or `maxQueuedBytes` unprocessed is a producer faster than the hub and is
 * disconnected (WebSocket has no portable way to stop reading).
 */
import { Effect, Exit, Mailbox, Stream } from "effect"
import { allocateConnectionId, type Connection, type TransportName } from "../hub/Connection.ts"
import { splitFrameText } from "../protocol/LineCodec.ts"

export interface FrameIo {
  /** Sends one text frame; `false` if it could not be queued (the acceptor then closes). */
  readonly send: (text: string) => boolean
  /** Bytes accepted by `send` and not yet written to the network. */
  readonly bufferedAmount: () => number
  readonly close: (code: number, reason: string) => void
}

export interface FrameConnection extends Connection {
  /** Feed one received text frame. */
  readonly receive: (text: string) => void
  /** The transport closed (either side). */
  readonly closed: () => void
  readonly closeReason: () => string | undefined
}

export const makeFrameConnection = (
  io: FrameIo,
  options: {
    readonly transport: TransportName
    readonly maxOutboundBytes: number
    readonly maxQueuedFrames: number
    readonly maxQueuedBytes: number
  }
): FrameConnection => {
  const id = allocateConnectionId()
  const inbox = Effect.runSync(Mailbox.make<string>())
  let queued = 0
  let queuedBytes = 0
  let open = true
  let reason: string | undefined

  const shut = (code: number, why: string) => {
    if (!open) return
    open = false
    reason = why
    inbox.unsafeDone(Exit.void)
    io.close(code, why.slice(0, 120))
  }

  const send = (line: string): boolean => {
    if (!open) return false
    if (io.bufferedAmount() + line.length > options.maxOutboundBytes) {
      shut(1008, `slow consumer: more than ${options.maxOutboundBytes} bytes waiting to be read`)
      return false
    }
    if (!io.send(line)) {
      shut(1008, "the transport refused a frame (closing, or past its backpressure limit)")
      return false
    }
    return true
  }

  const lines: Stream.Stream<string> = Mailbox.toStream(inbox).pipe(
    Stream.mapConcat((text) => {
      queued--
      queuedBytes -= text.length
      return splitFrameText(text)
    })
  )

  return {
    id,
    transport: options.transport,
    lines,
    send,
    close: (why) => shut(1000, why),
    isOpen: () => open,
    closeReason: () => reason,
    receive: (text) => {
      if (!open) return
      queuedBytes += text.length
      if (++queued > options.maxQueuedFrames || queuedBytes > options.maxQueuedBytes) {
        shut(1008, `too many requests in flight (more than ${options.maxQueuedFrames} frames or ${options.maxQueuedBytes} bytes unanswered)`)
        return
      }
      inbox.unsafeOffer(text)
    },
    closed: () => {
      if (!open) return
      open = false
      inbox.unsafeDone(Exit.void)
    }
  }
}
