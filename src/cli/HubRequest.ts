/**
 * One connection, a few requests, their answers: what `relay status` needs, nothing more.
 * (Sessions use the long-lived `HubClient`, which reconnects and handles pushes.)
 */
import { Data, Duration, Effect } from "effect"
import * as net from "node:net"
import { LineSplitter } from "../protocol/LineCodec.ts"
import { Limits } from "../protocol/Limits.ts"

export class HubRequestError extends Data.TaggedError("HubRequestError")<{ readonly message: string }> {}

export type Answer = { readonly type: string; readonly req_id?: string } & Record<string, unknown>

/** Sends each request with a fresh `req_id` and returns the answers in the same order. */
export const requestAll = (
  socketPath: string,
  requests: ReadonlyArray<Record<string, unknown>>,
  timeout: Duration.Duration = Duration.seconds(5)
) =>
  Effect.async<ReadonlyArray<Answer>, HubRequestError>((resume) => {
    const socket = net.createConnection(socketPath)
    const splitter = new LineSplitter(Limits.maxLineBytes)
    const ids = requests.map((_, i) => `cli-${i}`)
    const answers = new Map<string, Answer>()
    const finish = (result: Effect.Effect<ReadonlyArray<Answer>, HubRequestError>) => {
      socket.removeAllListeners()
      socket.on("error", () => {})
      socket.destroy()
      resume(result)
    }
    socket.on("connect", () => {
      socket.write(requests.map((r, i) => JSON.stringify({ ...r, req_id: ids[i] })).join("\n") + "\n")
    })
    socket.on("data", (chunk) => {
      const split = splitter.push(chunk)
      for (const line of split.lines) {
        const frame = JSON.parse(line) as Answer
        if (typeof frame.req_id === "string" && ids.includes(frame.req_id)) answers.set(frame.req_id, frame)
      }
      if (answers.size === ids.length) finish(Effect.succeed(ids.map((id) => answers.get(id)!)))
    })
    socket.on("error", (error: NodeJS.ErrnoException) =>
      finish(Effect.fail(new HubRequestError({ message: `cannot reach the hub on ${socketPath} (${error.code ?? error.message})` })))
    )
    socket.on("close", () =>
      finish(Effect.fail(new HubRequestError({ message: `the hub on ${socketPath} closed the connection before answering` })))
    )
    return Effect.sync(() => socket.destroy())
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new HubRequestError({ message: `the hub on ${socketPath} did not answer within ${Duration.format(timeout)}` })
    })
  )
