/**
 * One connection's protocol handler: decode each line, dispatch it, answer it.
 *
 * Requests of one connection are handled in order, which is what gives per-sender FIFO. A bad
 * line, a refused request or even a defect in a handler is answered with an `err` carrying the
 * line's `req_id`, and the connection goes on. When the connection ends, the session leaves its
 * rooms and gives its name back.
 */
import { Cause, type Chunk, Effect, Exit, Runtime, Stream } from "effect"
import { decodeLine } from "../protocol/Decode.ts"
import { encodeFrame, errFrame, type Frame, withReqId } from "../protocol/Encode.ts"
import type { RequestError } from "../protocol/ErrorCode.ts"
import type { ClientFrame } from "../protocol/Frames.ts"
import { Answers } from "./Answers.ts"
import type { Connection } from "./Connection.ts"
import { makeHandleRequest, type SessionState } from "./Handlers.ts"
import { isLater } from "./Outcome.ts"
import { Registry } from "./Registry.ts"
import type { Pending } from "./Reply.ts"
import { Rooms } from "./Rooms.ts"

export const serveConnection = (connection: Connection) =>
  Effect.gen(function* () {
    const registry = yield* Registry
    const rooms = yield* Rooms
    const handleRequest = yield* makeHandleRequest
    const runtime = yield* Effect.runtime<never>()
    const session: SessionState = { connection, peer: undefined }

    // Answers leave in request order, but a request that waits on the store (a send waiting for
    // its commit) does not stop the next line from being read: its answer holds a place instead.
    // The capacity is how far a client may pipeline ahead before the hub stops reading it.
    const answers = new Answers((line) => {
      connection.send(line)
    }, maxPipelined)

    const answerLine = (frame: ClientFrame, answer: Frame | undefined) =>
      answer === undefined ? undefined : encodeFrame(withReqId(answer, frame.req_id))

    /** Only a defect is worth a log line: a refusal is the client's business, and answered. */
    const isDefect = (cause: Cause.Cause<RequestError>) => !(Cause.isFailType(cause) || Cause.isInterruptedOnly(cause))
    const logDefect = (cause: Cause.Cause<RequestError>, frame: ClientFrame) =>
      Effect.logError("request handler failed", cause).pipe(Effect.annotateLogs({ type: frame.type }))

    const answerLater = (frame: ClientFrame, pending: Pending<Frame | undefined, RequestError>) => {
      const fill = answers.hold()
      pending.onDone((exit) => {
        if (Exit.isSuccess(exit)) return fill(answerLine(frame, exit.value))
        fill(encodeFrame(failureFrame(exit.cause, frame)))
        if (isDefect(exit.cause)) Runtime.runFork(runtime)(logDefect(exit.cause, frame))
      })
    }

    const dispatch = (frame: ClientFrame): Effect.Effect<void> =>
      handleRequest(session, frame).pipe(
        Effect.matchCauseEffect({
          onSuccess: (outcome) => {
            if (isLater(outcome)) answerLater(frame, outcome.answer)
            else answers.now(answerLine(frame, outcome))
            return Effect.void
          },
          onFailure: (cause) => {
            answers.now(encodeFrame(failureFrame(cause, frame)))
            return isDefect(cause) ? logDefect(cause, frame) : Effect.void
          }
        })
      )

    const handleLine = (line: string): Effect.Effect<void> => {
      const decoded = decodeLine(line)
      const handle =
        decoded._tag === "Invalid"
          ? Effect.sync(() => answers.now(encodeFrame(errFrame(decoded.code, decoded.message, decoded.reqId))))
          : dispatch(decoded.frame)
      return answers.outstanding < maxPipelined ? handle : Effect.zipRight(answers.whenAtMost(maxPipelined - 1), handle)
    }

    // A chunk is what one read of the connection brought: any frame counts as a sign of life.
    const handleChunk = (lines: Chunk.Chunk<string>) => {
      const handleAll = Effect.forEach(lines, handleLine, { discard: true })
      return session.peer === undefined ? handleAll : Effect.zipRight(registry.seen(session.peer), handleAll)
    }

    // Reached whether the peer hung up, was evicted, or the hub is stopping.
    const cleanup = Effect.suspend(() => {
      connection.close("session ended")
      const peer = session.peer
      if (peer === undefined) return Effect.void
      return Effect.zipRight(rooms.leaveAll(peer), registry.unregister(peer)).pipe(
        Effect.zipRight(Effect.logDebug("peer disconnected").pipe(Effect.annotateLogs({ peer: peer.name })))
      )
    })

    // When the client is gone, answers still outstanding are for requests already accepted (a
    // stored message, say): let them finish, then clean up.
    const drain = answers.whenAtMost(0)
    yield* connection.lines.pipe(Stream.runForEachChunk(handleChunk), Effect.ensuring(Effect.zipRight(drain, cleanup)))
  }).pipe(Effect.annotateLogs({ transport: connection.transport, connection: connection.id }))

const maxPipelined = 1024

/** Answers a failed request; a defect or an interruption becomes `unexpected` so the client is never left waiting. */
export const failureFrame = (cause: Cause.Cause<RequestError>, frame: ClientFrame): Frame => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") return errFrame(failure.value.code, failure.value.message, frame.req_id)
  if (Cause.isInterruptedOnly(cause)) {
    // Interrupted: the hub is stopping. A send may have been stored before it, so a blind retry
    // could deliver it twice.
    return errFrame(
      "unexpected",
      `the hub is stopping and '${frame.type}' may not have taken effect; reconnect and check (retry a send with the same client_id to avoid a duplicate)`,
      frame.req_id
    )
  }
  return errFrame("unexpected", `the hub failed while handling '${frame.type}'; it is still running, try again`, frame.req_id)
}
