import { Schema } from "effect"

/** The stable error codes a hub puts in `err.code`. `hub_unreachable` is client-side only. */
export const ErrorCode = Schema.Literal(
  "name_taken",
  "not_registered",
  "already_registered",
  "bad_msg",
  "bad_args",
  "protocol_mismatch",
  "mailbox_error",
  "not_member",
  "not_admin",
  "group_not_found",
  "peer_not_found",
  "peer_gone",
  "timeout",
  "unknown_ask",
  "rate_limited",
  "unexpected"
)
export type ErrorCode = typeof ErrorCode.Type

/**
 * A request the hub refuses. It is a value, not a defect: the session handler turns it into an
 * `err` frame carrying the request's `req_id`.
 */
export class RequestError extends Schema.TaggedError<RequestError>()("RequestError", {
  code: ErrorCode,
  message: Schema.String
}) {}

export const requestError = (code: ErrorCode, message: string) => new RequestError({ code, message })
