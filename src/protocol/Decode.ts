/**
 * One line in, one request or one refusal out. A line never affects its neighbours, and a refusal
 * carries the line's `req_id` whenever the line was JSON with a string `req_id`, so a client never
 * waits on a request the hub has already rejected.
 */
import { Either, ParseResult, Schema } from "effect"
import type { ErrorCode } from "./ErrorCode.ts"
import { decodeFast } from "./FastDecode.ts"
import { type ClientFrame, ClientFrames, type ClientFrameType } from "./Frames.ts"

export type Decoded =
  | { readonly _tag: "Request"; readonly frame: ClientFrame }
  | {
      readonly _tag: "Invalid"
      readonly code: Extract<ErrorCode, "bad_msg" | "bad_args">
      readonly message: string
      readonly reqId: string | undefined
    }

const parseOptions = { errors: "first", onExcessProperty: "ignore" } as const

const decoders = Object.fromEntries(
  Object.entries(ClientFrames).map(([type, schema]) => [
    type,
    Schema.decodeUnknownEither(schema as Schema.Schema<ClientFrame, unknown>, parseOptions)
  ])
) as Record<ClientFrameType, (input: unknown) => Either.Either<ClientFrame, ParseResult.ParseError>>

const maxMessageChars = 300

const invalid = (code: "bad_msg" | "bad_args", message: string, reqId: string | undefined): Decoded => ({
  _tag: "Invalid",
  code,
  message: message.length > maxMessageChars ? `${message.slice(0, maxMessageChars)}…` : message,
  reqId
})

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

export const decodeLine = (line: string): Decoded => {
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch {
    return invalid("bad_msg", "not valid JSON: send one JSON object per line", undefined)
  }
  if (!isRecord(json)) return invalid("bad_msg", "a frame must be a JSON object with a string 'type'", undefined)
  const reqId = Object.hasOwn(json, "req_id") && typeof json.req_id === "string" ? json.req_id : undefined
  const type = Object.hasOwn(json, "type") ? json.type : undefined
  if (typeof type !== "string") return invalid("bad_msg", "a frame must have a string 'type'", reqId)
  if (!Object.hasOwn(decoders, type)) {
    return invalid("bad_msg", `unknown frame type '${type.slice(0, 64)}'`, reqId)
  }
  const plain = decodeFast(type, json)
  if (plain !== undefined) return { _tag: "Request", frame: plain }
  const result = decoders[type as ClientFrameType](json)
  if (Either.isLeft(result)) {
    return invalid("bad_args", `invalid '${type}': ${describe(result.left)}`, reqId)
  }
  return { _tag: "Request", frame: result.right }
}

const describe = (error: ParseResult.ParseError): string => {
  try {
    const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
    return issues
      .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
      .join("; ")
  } catch {
    // The formatter prints the offending value recursively: a deeply nested one overflows the stack.
    return "a field has the wrong type or shape"
  }
}
