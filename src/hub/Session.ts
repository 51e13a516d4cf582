/**
 * One connection's protocol handler: decode each line, dispatch it, answer it.
 *
 * Requests of one connection are handled in order, which is what gives per-sender FIFO. A bad
 * line, a refused request or even a defect in a handler is answered with an `err` carrying the
 * line's `req_id`, and the connection goes on. When the connection ends, the session leaves its
 * rooms and gives its name back.
 */
import { Cause, Effect, Stream } from "effect"
import { decodeLine } from "../protocol/Decode.ts"
import { encodeFrame, errFrame, type Frame, withReqId } from "../protocol/Encode.ts"
import type { RequestError } from "../protocol/ErrorCode.ts"
import type { ClientFrame } from "../protocol/Frames.ts"
import type { Connection } from "./Connection.ts"
import { type HandlerServices, handleRequest, type SessionState } from "./Handlers.ts"
import { Registry } from "./Registry.ts"
import { Rooms } from "./Rooms.ts"

export const serveConnection = (connection: Connection) =>
  Effect.gen(function* () {
    const registry = yield* Registry
    const rooms = yield* Rooms
    const session: SessionState = { connection, peer: undefined }

    const reply = (frame: Frame) => {
      connection.send(encodeFrame(frame))
    }

    const handleLine = (line: string): Effect.Effect<void, never, HandlerServices> => {
      const decoded = decodeLine(line)
      if (session.peer !== undefined) {
        const seen = registry.seen(session.peer)
        if (decoded._tag === "Invalid") {
          return Effect.zipRight(seen, Effect.sync(() => reply(errFrame(decoded.code, decoded.message, decoded.reqId))))
        }
        return Effect.zipRight(seen, dispatch(decoded.frame))
      }
      if (decoded._tag === "Invalid") {
        return Effect.sync(() => reply(errFrame(decoded.code, decoded.message, decoded.reqId)))
      }
      return dispatch(decoded.frame)
    }

    const dispatch = (frame: ClientFrame): Effect.Effect<void, never, HandlerServices> =>
      handleRequest(session, frame).pipe(
        Effect.matchCauseEffect({
          onSuccess: (answer) => Effect.sync(() => answer !== undefined && reply(withReqId(answer, frame.req_id))),
          onFailure: (cause) => Effect.sync(() => reply(failureFrame(cause, frame))).pipe(
            Effect.zipRight(
              Cause.isFailType(cause) || Cause.isInterruptedOnly(cause)
                ? Effect.void
                : Effect.logError("request handler failed", cause).pipe(Effect.annotateLogs({ type: frame.type }))
            )
          )
        })
      )

    // Reached whether the peer hung up, was evicted, or the hub is stopping.
    const cleanup = Effect.suspend(() => {
      connection.close("session ended")
      const peer = session.peer
      if (peer === undefined) return Effect.void
      return Effect.zipRight(rooms.leaveAll(peer), registry.unregister(peer)).pipe(
        Effect.zipRight(Effect.logDebug("peer disconnected").pipe(Effect.annotateLogs({ peer: peer.name })))
      )
    })

    yield* connection.lines.pipe(Stream.runForEach(handleLine), Effect.ensuring(cleanup))
  }).pipe(Effect.annotateLogs({ transport: connection.transport, connection: connection.id }))

/** Answers a failed request; a defect becomes `unexpected` so the client is never left waiting. */
const failureFrame = (cause: Cause.Cause<RequestError>, frame: ClientFrame): Frame => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") return errFrame(failure.value.code, failure.value.message, frame.req_id)
  return errFrame("unexpected", `the hub failed while handling '${frame.type}'; it is still running, try again`, frame.req_id)
}
