/**
 * The hand-written decoders for hot frames never disagree with the Schemas: whatever they accept,
 * the Schema accepts with the same value; what they decline, the Schema decides. And they do take
 * the plain, valid frames (otherwise they would be dead weight that a test of agreement can't see).
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { decodeFast } from "../../src/protocol/FastDecode.ts"
import { ClientFrames } from "../../src/protocol/Frames.ts"
import { Limits } from "../../src/protocol/Limits.ts"

const schemaDecode = (json: Record<string, unknown>) =>
  Schema.decodeUnknownEither(ClientFrames[json.type as "send"] as Schema.Schema<unknown, unknown>, {
    errors: "first",
    onExcessProperty: "ignore"
  })(json)

/** Strings near every boundary the schemas draw: names, padding, lengths at and past the caps. */
const edgyString = fc.oneof(
  fc.constantFrom("", "bob", " bob", "bob ", "b\tob", "bob@hub-1", "bob@", "@hub", "bob@h.b", "a".repeat(64), "a".repeat(65), "ünï", "x@y@z"),
  fc.constantFrom(Limits.maxReqIdChars, Limits.maxReplyToChars, Limits.maxMsgIdChars).chain((n) =>
    fc.constantFrom("r".repeat(n), "r".repeat(n + 1))
  ),
  fc.string({ maxLength: 80 })
)
const anyValue = fc.oneof(edgyString, fc.boolean(), fc.constant(null), fc.integer(), fc.double(), fc.constant([]), fc.constant({}))
/** Mostly a plausible value (so whole frames are often valid), sometimes anything at all, sometimes absent. */
const field = (plausible: fc.Arbitrary<unknown>) =>
  fc.option(fc.oneof({ arbitrary: plausible, weight: 4 }, { arbitrary: anyValue, weight: 1 }), { nil: undefined, freq: 3 })
const name = fc.oneof(fc.constantFrom("bob", "team-1", "a.b_c"), edgyString)

const candidate = fc
  .record({
    type: fc.constantFrom("send", "group_send", "ping", "pong"),
    to: field(fc.oneof(name, fc.constantFrom("bob@hub", "bob@hub.x"))),
    group: field(name),
    text: field(fc.string({ maxLength: 200 })),
    reply_to: field(fc.oneof(fc.constant(null), edgyString)),
    urgent: field(fc.boolean()),
    client_id: field(edgyString),
    notify_read: field(fc.boolean()),
    req_id: field(edgyString),
    extra: field(anyValue)
  })
  // A JSON round trip: what the decoder really sees (no `undefined` values, absent keys instead).
  .map((frame) => JSON.parse(JSON.stringify(frame)) as Record<string, unknown>)

describe("FastDecode", () => {
  it("accepts only what the Schema accepts, with the same value", () => {
    let taken = 0
    fc.assert(
      fc.property(candidate, (json) => {
        const fast = decodeFast(json.type as string, json)
        if (fast === undefined) return
        taken++
        const viaSchema = schemaDecode(json)
        expect(Either.isRight(viaSchema)).toBe(true)
        expect(fast).toEqual(Either.getOrThrow(viaSchema))
      }),
      { numRuns: 5_000 }
    )
    // The agreement above is only worth something if many frames took the fast path.
    expect(taken).toBeGreaterThan(500)
  })

  it("takes the plain frames of every hot type, so the common case skips the Schema", () => {
    const frames = [
      { type: "send", to: "bob", text: "hi", req_id: "1" },
      { type: "send", to: "bob@hub", text: "", reply_to: null, urgent: true, client_id: "c1", notify_read: false },
      { type: "group_send", group: "team", text: "hi", client_id: "k", req_id: "2" },
      { type: "ping", req_id: "3" },
      { type: "pong" }
    ]
    for (const frame of frames) {
      const fast = decodeFast(frame.type, frame)
      expect(fast).toEqual(Either.getOrThrow(schemaDecode(frame)))
    }
  })

  it("leaves padded names, wrong types and over-long fields to the Schema (which refuses or trims them)", () => {
    const declined = [
      { type: "send", to: " bob", text: "hi" },
      { type: "send", to: "bob", text: 1 },
      { type: "send", to: "bob", text: "hi", urgent: "yes" },
      { type: "send", to: "bob", text: "hi", client_id: "" },
      { type: "send", to: "bob", text: "hi", req_id: "r".repeat(Limits.maxReqIdChars + 1) },
      { type: "group_send", group: "a@b", text: "hi" },
      { type: "ping", req_id: 7 }
    ]
    for (const frame of declined) expect(decodeFast(frame.type, frame)).toBeUndefined()
  })
})
