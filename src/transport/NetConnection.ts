/**
 * A `Connection` over a Node-style stream socket (`node:net`, which Bun implements too).
 *
 * In: the socket is paused while the session works through a chunk, so the kernel buffer — and the
 * peer — wait while the session is busy (backpressure, not memory). Out: lines queued in one tick are written with one
 * `write`; the bytes waiting towards the peer (ours plus the socket's own buffer) are capped, and a
 * peer that lets them pass the cap is cut off as a slow consumer instead of growing our memory.
 */
import { Effect, Stream } from "effect"
import type * as net from "node:net"
import { encodeFrame, errFrame } from "../protocol/Encode.ts"
import { LineSplitter } from "../protocol/LineCodec.ts"
import { allocateConnectionId, type Connection, type TransportName } from "../hub/Connection.ts"

export interface NetConnectionOptions {
  readonly transport: TransportName
  readonly maxLineBytes: number
  readonly maxOutboundBytes: number
}

export interface NetConnection extends Connection {
  /** Why the connection closed, once it has; `undefined` for a normal hang-up. */
  readonly closeReason: () => string | undefined
}

const TooLong = Symbol("TooLong")

/** How long a graceful close may wait for the queued lines to drain before the socket is destroyed. */
const closeGraceMillis = 2_000

/**
 * The socket's chunks, one at a time: the socket is paused until the session has taken the chunk,
 * so a peer that writes faster than the hub handles waits in the kernel, not in our memory.
 *
 * Not `Stream.fromAsyncIterable(socket)`: its finalizer awaits the iterator's `return()`, which on
 * a Node stream waits for the pending read — so interrupting an idle session (hub shutdown) hung
 * until the peer sent something — and it destroys the socket before a last `err` is flushed.
 */
const readChunks = (socket: net.Socket): Stream.Stream<Uint8Array> =>
  Stream.async<Uint8Array>((emit) => {
    let active = true
    const onData = (chunk: Uint8Array) => {
      socket.pause()
      void emit.single(chunk).then(() => {
        if (active && !socket.destroyed) socket.resume()
      })
    }
    const onEnd = () => void emit.end()
    socket.on("data", onData)
    socket.once("end", onEnd)
    socket.once("close", onEnd)
    if (socket.destroyed || socket.readableEnded) onEnd()
    return Effect.sync(() => {
      active = false
      socket.off("data", onData)
      socket.off("end", onEnd)
      socket.off("close", onEnd)
    })
  }, 2)

export const fromNetSocket = (socket: net.Socket, options: NetConnectionOptions): NetConnection => {
  const id = allocateConnectionId()
  let pending: Array<string> = []
  let pendingBytes = 0
  let flushScheduled = false
  let open = true
  let reason: string | undefined

  const flush = () => {
    flushScheduled = false
    if (!open && socket.destroyed) return
    if (pending.length === 0) return
    const data = pending.length === 1 ? pending[0]! : pending.join("")
    pending = []
    pendingBytes = 0
    socket.write(data)
  }

  const closeWith = (why: string, graceful: boolean) => {
    if (!open) return
    open = false
    reason = why
    if (graceful) {
      flush()
      if (socket.destroyed) return
      // Half-close after what is queued, then close for good: a peer that never closes its own side
      // (frozen, or evicted as a zombie) must not keep its session — and its rooms — alive.
      socket.end(() => socket.destroy())
      const timer = setTimeout(() => socket.destroy(), closeGraceMillis)
      timer.unref?.()
      socket.once("close", () => clearTimeout(timer))
    } else {
      pending = []
      pendingBytes = 0
      socket.destroy()
    }
  }

  socket.on("close", () => {
    open = false
  })
  // An error closes the socket, which ends `lines`; the listener keeps it from becoming uncaught.
  socket.on("error", () => {})

  const send = (line: string): boolean => {
    if (!open) return false
    const size = line.length + 1
    if (socket.writableLength + pendingBytes + size > options.maxOutboundBytes) {
      closeWith(
        `slow consumer: more than ${options.maxOutboundBytes} bytes waiting to be read; disconnected (stored messages wait for it)`,
        false
      )
      return false
    }
    pending.push(line + "\n")
    pendingBytes += size
    if (!flushScheduled) {
      flushScheduled = true
      setImmediate(flush)
    }
    return true
  }

  const lines: Stream.Stream<string> = Stream.suspend(() => {
    const splitter = new LineSplitter(options.maxLineBytes)
    let overflowed = false
    const chunks = readChunks(socket)
    return chunks.pipe(
      Stream.mapConcat((chunk): ReadonlyArray<string | typeof TooLong> => {
        const result = splitter.push(chunk)
        if (result._tag === "Lines") return result.lines
        return [...result.lines, TooLong]
      }),
      Stream.takeWhile((item): item is string => {
        if (item === TooLong) overflowed = true
        return item !== TooLong
      }),
      Stream.concat(
        Stream.suspend(() => {
          if (overflowed) {
            send(encodeFrame(errFrame("bad_msg", `line too long: the limit is ${options.maxLineBytes} bytes; connection closed`, undefined)))
            closeWith("line too long", true)
            return Stream.empty
          }
          const last = splitter.end()
          return last === undefined ? Stream.empty : Stream.make(last)
        })
      )
    ) as Stream.Stream<string>
  })

  return {
    id,
    transport: options.transport,
    lines,
    send,
    close: (why) => closeWith(why, true),
    isOpen: () => open && !socket.destroyed,
    closeReason: () => reason
  }
}

/** Runs a connection through the hub and logs how it ended. */
export const logClose = (connection: NetConnection) =>
  Effect.suspend(() => {
    const reason = connection.closeReason()
    return reason === undefined || reason === "session ended"
      ? Effect.logDebug("connection closed")
      : Effect.logWarning("connection closed", { reason })
  }).pipe(Effect.annotateLogs({ transport: connection.transport, connection: connection.id }))
