/**
 * What a request handler produces: an answer now, no answer (`pong`), or an answer later.
 */
import type { Frame } from "../protocol/Encode.ts"
import type { RequestError } from "../protocol/ErrorCode.ts"
import type { Pending } from "./Reply.ts"

/**
 * The answer to a request that was accepted but finishes later (a send waiting for its commit).
 * The session keeps reading the connection meanwhile and sends this answer in request order.
 */
export interface Later {
  readonly _tag: "Later"
  readonly answer: Pending<Frame | undefined, RequestError>
}

export type Outcome = Frame | Later | undefined

export const later = (answer: Pending<Frame | undefined, RequestError>): Later => ({ _tag: "Later", answer })

export const isLater = (outcome: Outcome): outcome is Later =>
  outcome !== undefined && "_tag" in outcome && outcome._tag === "Later"
