/**
 * Hub → client frames. Built as plain objects with `type` first so the serialised form is stable
 * (v5 clients compare the bootstrap pong as a string).
 */
import type { ErrorCode } from "./ErrorCode.ts"

export type Frame = { readonly type: string } & Record<string, unknown>

export const encodeFrame = (frame: Frame): string => JSON.stringify(frame)

/** Adds `req_id` only when the request had one: absent fields stay absent on the wire. */
export const withReqId = <F extends Frame>(frame: F, reqId: string | undefined): F =>
  reqId === undefined ? frame : { ...frame, req_id: reqId }

export const errFrame = (code: ErrorCode, message: string, reqId: string | undefined): Frame =>
  withReqId({ type: "err", code, message }, reqId)
