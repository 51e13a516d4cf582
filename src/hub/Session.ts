/**
 * One connection's protocol handler: decode each line, dispatch it, answer it.
 *
 * Requests of one connection are handled in order, which is what gives per-sender FIFO. A bad
 * line, a refused request or even a defect in a handler is answered with an `err` carrying the
 * line's `req_id`, and the connection goes on. When the connection ends, the session leaves its
 * rooms and gives its name back.
 */
import { Cause, Effect, Fiber, Queue, Stream } from "effect"
import { decodeLine } from "../protocol/Decode.ts"
import { encodeFrame, errFrame, type Frame, withReqId } from "../protocol/Encode.ts"
import type { RequestError } from "../protocol/ErrorCode.ts"
import type { ClientFrame } from "../protocol/Frames.ts"
import type { Connection } from "./Connection.ts"
import { type HandlerServices, handleRequest, type SessionState } from "./Handlers.ts"
import { isLater } from "./Outcome.ts"
import { Registry } from "./Registry.ts"
import { Rooms } from "./Rooms.ts"

export const serveConnection = (connection: Connection) =>
  Effect.gen(function* () {
    const registry = yield* Registry
    const rooms = yield* Rooms
    const session: SessionState = { connection, peer: undefined }

    // Answers leave in request order, but a request that waits on the store (a send waiting for
    // its commit) does not stop the next line from being read: its answer waits here instead.
    // The bound is how far a client may pipeline ahead before the hub stops reading it.
    const answers = yield* Queue.bounded<Effect.Effect<void>>(maxPipelined)
    const answering = yield* Queue.take(answers).pipe(Effect.flatten, Effect.forever, Effect.fork)

    const reply = (frame: Frame) => {
      connection.send(encodeFrame(frame))
    }
    const answer = (respond: Effect.Effect<void>) => Queue.offer(answers, respond)

    const handleLine = (line: string): Effect.Effect<void, never, HandlerServices> => {
      const decoded = decodeLine(line)
      const handle =
        decoded._tag === "Invalid"
          ? answer(Effect.sync(() => reply(errFrame(decoded.code, decoded.message, decoded.reqId))))
          : dispatch(decoded.frame)
      return session.peer === undefined ? handle : Effect.zipRight(registry.seen(session.peer), handle)
    }

    const respond = (frame: ClientFrame) => (cause: Cause.Cause<RequestError>) =>
      Effect.sync(() => reply(failureFrame(cause, frame))).pipe(
        Effect.zipRight(
          Cause.isFailType(cause) || Cause.isInterruptedOnly(cause)
            ? Effect.void
            : Effect.logError("request handler failed", cause).pipe(Effect.annotateLogs({ type: frame.type }))
        )
      )

    const dispatch = (frame: ClientFrame): Effect.Effect<void, never, HandlerServices> =>
      handleRequest(session, frame).pipe(
        Effect.matchCause({
          onSuccess: (outcome): Effect.Effect<void> =>
            isLater(outcome)
              ? outcome.answer.pipe(
                  Effect.matchCauseEffect({
                    onSuccess: (frameOut) =>
                      Effect.sync(() => frameOut !== undefined && reply(withReqId(frameOut, frame.req_id))),
                    onFailure: respond(frame)
                  })
                )
              : Effect.sync(() => outcome !== undefined && reply(withReqId(outcome, frame.req_id))),
          onFailure: respond(frame)
        }),
        Effect.flatMap(answer)
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

    // When the client is gone, answers still pending are for requests already accepted (a stored
    // message, say): let them finish, then clean up.
    const drain = Effect.zipRight(answer(Effect.interrupt), Fiber.await(answering))
    yield* connection.lines.pipe(Stream.runForEach(handleLine), Effect.ensuring(Effect.zipRight(drain, cleanup)))
  }).pipe(Effect.annotateLogs({ transport: connection.transport, connection: connection.id }))

const maxPipelined = 1024

/** Answers a failed request; a defect becomes `unexpected` so the client is never left waiting. */
const failureFrame = (cause: Cause.Cause<RequestError>, frame: ClientFrame): Frame => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") return errFrame(failure.value.code, failure.value.message, frame.req_id)
  return errFrame("unexpected", `the hub failed while handling '${frame.type}'; it is still running, try again`, frame.req_id)
}
