/**
 * What a client reads when its request failed: the refusal itself, a defect as "try again", and an
 * interruption (the hub stopping) as "may not have taken effect" — never "try again" blindly, since
 * a send may already be stored.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, FiberId } from "effect"
import { requestError } from "../../src/protocol/ErrorCode.ts"
import { failureFrame } from "../../src/hub/Session.ts"

const send = { type: "send", to: "bob", text: "hi", req_id: "r1" } as const

describe("failureFrame", () => {
  it("a refusal keeps its code and message, with the request's req_id", () => {
    expect(failureFrame(Cause.fail(requestError("peer_not_found", "no such peer")), send)).toEqual({
      type: "err",
      code: "peer_not_found",
      message: "no such peer",
      req_id: "r1"
    })
  })

  it("a defect is `unexpected` and says the hub is still running", () => {
    const frame = failureFrame(Cause.die(new Error("boom")), send)
    expect(frame).toMatchObject({ type: "err", code: "unexpected", req_id: "r1" })
    expect(frame.message).toContain("still running, try again")
  })

  it("an interruption says the hub is stopping and points at client_id instead of a blind retry", () => {
    const frame = failureFrame(Cause.interrupt(FiberId.none), send)
    expect(frame).toMatchObject({ type: "err", code: "unexpected", req_id: "r1" })
    expect(frame.message).toContain("the hub is stopping")
    expect(frame.message).toContain("client_id")
    expect(frame.message).not.toContain("try again")
  })
})
