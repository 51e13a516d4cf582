/**
 * Every client frame survives the wire: a decoded value, encoded and serialised the way a client
 * would send it, comes back from `decodeLine` unchanged.
 */
import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, FastCheck as fc, Schema } from "effect"
import { decodeLine } from "../../src/protocol/Decode.ts"
import { ClientFrames, type ClientFrameType } from "../../src/protocol/Frames.ts"
import { LineSplitter } from "../../src/protocol/LineCodec.ts"
import { Limits } from "../../src/protocol/Limits.ts"
import { jsonFaithful, minimalFrames } from "./Fixtures.ts"

const frameTypes = Object.keys(ClientFrames) as Array<ClientFrameType>

const roundTrip = <K extends ClientFrameType>(type: K) => {
  const schema = ClientFrames[type] as unknown as Schema.Schema<unknown, unknown>
  return (value: unknown) => {
    const line = JSON.stringify(Schema.encodeSync(schema)(value))
    expect(decodeLine(line)).toEqual({ _tag: "Request", frame: value })
  }
}

describe("frame round-trip", () => {
  it("the fixtures and this suite cover every client frame type", () => {
    expect(Object.keys(minimalFrames).sort()).toEqual([...frameTypes].sort())
    expect(frameTypes.length).toBeGreaterThanOrEqual(27)
  })

  for (const type of frameTypes) {
    const schema = ClientFrames[type] as unknown as Schema.Schema<unknown, unknown>
    it.prop(
      `${type}: Type value → encode → JSON → decodeLine is the same value`,
      [Arbitrary.make(schema).filter(jsonFaithful)],
      ([value]) => roundTrip(type)(value),
      { fastCheck: { numRuns: 60 } }
    )
  }

  for (const type of frameTypes) {
    it(`${type}: the minimal fixture frame is a Request of its own type`, () => {
      const result = decodeLine(JSON.stringify({ ...minimalFrames[type], req_id: "r1" }))
      expect(result._tag).toBe("Request")
      if (result._tag === "Request") {
        expect(result.frame.type).toBe(type)
        expect(result.frame.req_id).toBe("r1")
      }
    })
  }

  // Any code point, including lone surrogates: JSON.stringify escapes those, so they survive bytes.
  const anyText = fc.oneof(
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u)), maxLength: 8 }),
    fc.constantFrom("👋🏽 héllo 世界", "𝄞\u0000\u2028\u2029", "\uFFFD\uFEFFx")
  )

  it.prop(
    "text fields carry any code point through bytes, LineSplitter and decodeLine",
    [fc.constantFrom<ClientFrameType>("send", "room_msg", "group_send", "reply"), anyText, fc.string({ maxLength: 64 })],
    ([type, text, reqId]) => {
      const frame = { ...minimalFrames[type], text, req_id: reqId }
      const splitter = new LineSplitter(Limits.maxLineBytes)
      const split = splitter.push(new TextEncoder().encode(JSON.stringify(frame) + "\n"))
      expect(split._tag).toBe("Lines")
      expect(split.lines).toHaveLength(1)
      expect(decodeLine(split.lines[0]!)).toEqual({ _tag: "Request", frame })
    },
    { fastCheck: { numRuns: 300 } }
  )

  const padding = fc.string({ unit: fc.constantFrom(" ", "\t", "\n", "\r", "\u00a0", "\u3000"), maxLength: 4 })
  const name = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/)

  it.prop(
    "names are trimmed before they are checked",
    [name, padding, padding],
    ([bare, before, after]) => {
      const padded = `${before}${bare}${after}`
      const frames: Array<[unknown, unknown]> = [
        [{ type: "register", name: padded }, { type: "register", name: bare, cwd: "", git_branch: "" }],
        [{ type: "rename", new_name: padded }, { type: "rename", new_name: bare }],
        [{ type: "join_room", room: padded }, { type: "join_room", room: bare }],
        [{ type: "group_invite", group: padded, peer: padded }, { type: "group_invite", group: bare, peer: bare }],
        [{ type: "send", to: padded, text: "x" }, { type: "send", to: bare, text: "x" }]
      ]
      for (const [sent, expected] of frames) {
        expect(decodeLine(JSON.stringify(sent))).toEqual({ _tag: "Request", frame: expected })
      }
    },
    { fastCheck: { numRuns: 200 } }
  )

  it("register fills absent cwd and git_branch with empty strings and keeps explicit nulls", () => {
    expect(decodeLine('{"type":"register","name":"a"}')).toEqual({
      _tag: "Request",
      frame: { type: "register", name: "a", cwd: "", git_branch: "" }
    })
    expect(decodeLine('{"type":"register","name":"a","cwd":null,"git_branch":null,"protocol_version":5}')).toEqual({
      _tag: "Request",
      frame: { type: "register", name: "a", cwd: null, git_branch: null, protocol_version: 5 }
    })
  })

  it("group_create fills absent members with an empty list", () => {
    expect(decodeLine('{"type":"group_create","name":"team"}')).toEqual({
      _tag: "Request",
      frame: { type: "group_create", name: "team", members: [] }
    })
  })

  it("unknown fields are ignored, not echoed into the frame", () => {
    expect(decodeLine('{"type":"ping","req_id":"r","extra":{"deep":[1,2]},"z":null}')).toEqual({
      _tag: "Request",
      frame: { type: "ping", req_id: "r" }
    })
  })
})
