/**
 * Hand-written decoders for the frames that make up almost all traffic (`send`, `group_send`,
 * `ping`, `pong`), taken only when a frame is plainly valid.
 *
 * The Schemas in `Frames.ts` stay the definition: these accept a subset of what they accept and
 * produce the same value, or return `undefined` and the Schema decides (and words the refusal). A
 * property test holds them to that. Why: the generic Schema walk was the largest single cost of
 * decoding a `send` (about three quarters of it), and every message pays it.
 */
import type { ClientFrame } from "./Frames.ts"
import { Limits } from "./Limits.ts"

type Json = Record<string, unknown>

/** Already trimmed and valid: the Schema's trim-then-match gives back the same string. */
const plainName = /^[A-Za-z0-9._-]{1,64}$/
const plainAddress = /^[A-Za-z0-9._-]{1,64}(@[A-Za-z0-9_-]{1,64})?$/

const isBounded = (value: unknown, max: number): value is string => typeof value === "string" && value.length <= max

/** Absent, or a string within `max`; `undefined` is "absent" (what JSON gives for a missing key). */
const optionalBounded = (value: unknown, max: number) => value === undefined || isBounded(value, max)
const optionalBoolean = (value: unknown) => value === undefined || typeof value === "boolean"

const decodeSend = (json: Json): ClientFrame | undefined => {
  const { to, text, reply_to, urgent, client_id, notify_read, req_id } = json
  if (typeof to !== "string" || !plainAddress.test(to) || !isBounded(text, Limits.maxTextChars)) return undefined
  if (!optionalBounded(req_id, Limits.maxReqIdChars) || !optionalBoolean(urgent) || !optionalBoolean(notify_read)) return undefined
  if (reply_to !== undefined && reply_to !== null && !isBounded(reply_to, Limits.maxReplyToChars)) return undefined
  if (client_id !== undefined && !(isBounded(client_id, Limits.maxMsgIdChars) && client_id.length > 0)) return undefined
  const frame: Json = { type: "send", to, text }
  if (reply_to !== undefined) frame.reply_to = reply_to
  if (urgent !== undefined) frame.urgent = urgent
  if (client_id !== undefined) frame.client_id = client_id
  if (notify_read !== undefined) frame.notify_read = notify_read
  if (req_id !== undefined) frame.req_id = req_id
  return frame as ClientFrame
}

const decodeGroupSend = (json: Json): ClientFrame | undefined => {
  const { group, text, client_id, req_id } = json
  if (typeof group !== "string" || !plainName.test(group) || !isBounded(text, Limits.maxTextChars)) return undefined
  if (!optionalBounded(req_id, Limits.maxReqIdChars)) return undefined
  if (client_id !== undefined && !(isBounded(client_id, Limits.maxMsgIdChars) && client_id.length > 0)) return undefined
  const frame: Json = { type: "group_send", group, text }
  if (client_id !== undefined) frame.client_id = client_id
  if (req_id !== undefined) frame.req_id = req_id
  return frame as ClientFrame
}

const decodeBare =
  (type: "ping" | "pong") =>
  (json: Json): ClientFrame | undefined => {
    const { req_id } = json
    if (req_id === undefined) return { type }
    return isBounded(req_id, Limits.maxReqIdChars) ? { type, req_id } : undefined
  }

const fast: Partial<Record<string, (json: Json) => ClientFrame | undefined>> = {
  send: decodeSend,
  group_send: decodeGroupSend,
  ping: decodeBare("ping"),
  pong: decodeBare("pong")
}

/** The frame, if `json` (an object with a string `type`) is a plainly valid frame of a hot type. */
export const decodeFast = (type: string, json: Json): ClientFrame | undefined => fast[type]?.(json)
