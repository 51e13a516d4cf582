/**
 * Every wire limit of protocol.md, at the bound and one past it, plus the exact bootstrap exchange.
 * Past a bound the refusal is always `bad_args` carrying the request's `req_id`.
 */
import { describe, expect, it } from "@effect/vitest"
import { decodeLine } from "../../src/protocol/Decode.ts"
import { encodeFrame, errFrame, withReqId } from "../../src/protocol/Encode.ts"
import { Address, ClientFrames, type ClientFrameType, Name } from "../../src/protocol/Frames.ts"
import { Limits } from "../../src/protocol/Limits.ts"
import { minimalFrames } from "./Fixtures.ts"

const reqId = "lim-1"
const frameTypes = Object.keys(ClientFrames) as Array<ClientFrameType>

const decodeWith = (type: ClientFrameType, field: string, value: unknown) =>
  decodeLine(JSON.stringify({ ...minimalFrames[type], [field]: value, req_id: reqId }))

/** Long values would flood a failure report: show the length and the start. */
const show = (value: unknown) => {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 40 ? `${text.slice(0, 30)}… (${text.length} chars)` : text
}

const expectAccepted = (type: ClientFrameType, field: string, value: unknown, decoded: unknown = value) => {
  const result = decodeWith(type, field, value)
  expect(result._tag, `${type}.${field} = ${show(value)} should be accepted`).toBe("Request")
  if (result._tag === "Request") {
    const actual = (result.frame as Record<string, unknown>)[field]
    if (typeof decoded === "string") expect(actual === decoded, `${show(actual)} is ${show(decoded)}`).toBe(true)
    else expect(actual).toEqual(decoded)
    expect(result.frame.req_id).toBe(reqId)
  }
}

const expectRefused = (type: ClientFrameType, field: string, value: unknown) => {
  const result = decodeWith(type, field, value)
  expect(
    result._tag === "Invalid" ? { code: result.code, reqId: result.reqId } : result._tag,
    `${type}.${field} = ${show(value)} should be refused`
  ).toEqual({ code: "bad_args", reqId })
}

const chars = (n: number, c = "a") => c.repeat(n)

// Fields are the Schema objects themselves, so identity finds every name-typed field.
const fieldsOfSchema = (schema: unknown) =>
  frameTypes.flatMap((type) =>
    Object.entries(ClientFrames[type].fields)
      .filter(([, field]) => field === schema)
      .map(([field]) => [type, field] as const)
  )
const nameFields = fieldsOfSchema(Name)

describe("names: 1–64 chars of [A-Za-z0-9._-], trimmed", () => {
  it("every peer, room and group field is a Name", () => {
    expect(nameFields.map(([type, field]) => `${type}.${field}`).sort()).toEqual([
      "group_create.name", "group_delete.group", "group_history.group", "group_info.group",
      "group_invite.group", "group_invite.peer", "group_leave.group", "group_remove.group",
      "group_remove.peer", "group_send.group", "group_transfer.group", "group_transfer.peer",
      "join_room.room", "leave_room.room", "register.name", "rename.new_name", "room_msg.room"
    ])
    expect(fieldsOfSchema(Address)).toEqual([["send", "to"]])
  })

  const good = ["a", "A", "0", ".", "_", "-", "Alice.Smith_2-x", chars(64), `  ${chars(64)}\t`, chars(63, "Z") + "9"]
  const bad = [
    "", "   ", "\t\n", chars(65), ` ${chars(65)} `, "a b", "a/b", "a\\b", "a@b", "a:b", "a,b", "a+b",
    "é", "日本", "👋", "a\u0000", "a\u200bb", "a\nb", "bob!", "*", "a'b", 'a"b'
  ]

  for (const [type, field] of nameFields) {
    it(`${type}.${field}`, () => {
      for (const value of good) expectAccepted(type, field, value, value.trim())
      for (const value of bad) expectRefused(type, field, value)
      expectRefused(type, field, null)
      expectRefused(type, field, 5)
    })
  }

  it("send.to is a name or name@hub_id, both parts bounded", () => {
    for (const value of ["bob", chars(64), `bob@${chars(64, "h")}`, `${chars(64)}@hub-1_x`, " bob@hub "]) {
      expectAccepted("send", "to", value, value.trim())
    }
    for (const value of [
      "", chars(65), `bob@${chars(65, "h")}`, `${chars(65)}@hub`, "bob@", "@hub", "bob@hub.x", "bob@hub@x", "b ob@hub", "bob@h b"
    ]) {
      expectRefused("send", "to", value)
    }
  })
})

describe("text and question: at most 524,288 UTF-16 code units", () => {
  const textFields = [
    ["send", "text"], ["reply", "text"], ["room_msg", "text"], ["group_send", "text"], ["broadcast", "question"]
  ] as const
  const atBound = chars(Limits.maxTextChars, "t")
  const pastBound = chars(Limits.maxTextChars + 1, "t")
  // 2 code units per emoji: the bound is in code units, not code points or bytes.
  const emojiAtBound = "😀".repeat(Limits.maxTextChars / 2)

  for (const [type, field] of textFields) {
    it(`${type}.${field}: 524,288 accepted, 524,289 refused`, () => {
      expect(Limits.maxTextChars).toBe(524_288)
      expectAccepted(type, field, atBound)
      expectAccepted(type, field, emojiAtBound)
      expectAccepted(type, field, "")
      expectRefused(type, field, pastBound)
      expectRefused(type, field, emojiAtBound + "x")
    })
  }
})

describe("bounded string fields", () => {
  const rows: Array<{
    readonly type: ClientFrameType
    readonly field: string
    readonly max: number
    readonly min?: number
    readonly nullable?: boolean
  }> = [
    { type: "register", field: "cwd", max: 1024, nullable: true },
    { type: "register", field: "git_branch", max: 256, nullable: true },
    { type: "send", field: "reply_to", max: 256, nullable: true },
    { type: "inbox", field: "since_id", max: 64 },
    { type: "group_remove", field: "reason", max: 256, min: 1 },
    // [v6] and the ids the hub stores or echoes
    { type: "send", field: "client_id", max: 256, min: 1 },
    { type: "group_send", field: "client_id", max: 256, min: 1 },
    { type: "room_msg", field: "msg_id", max: 256, min: 1 },
    { type: "msg_status", field: "msg_id", max: 256, min: 1 },
    { type: "reply", field: "ask_id", max: 256, min: 1 },
    { type: "broadcast", field: "broadcast_id", max: 128, min: 1 },
    { type: "hello", field: "client", max: 128 }
  ]
  for (const { field, max, min = 0, nullable = false, type } of rows) {
    it(`${type}.${field}: ${min}–${max} chars`, () => {
      expectAccepted(type, field, chars(max))
      expectAccepted(type, field, chars(Math.max(min, 1)))
      expectRefused(type, field, chars(max + 1))
      if (min > 0) expectRefused(type, field, "")
      else expectAccepted(type, field, "")
      if (nullable) expectAccepted(type, field, null)
      else expectRefused(type, field, null)
    })
  }

  it("the table limits match Limits.ts", () => {
    expect(Limits).toMatchObject({
      maxCwdChars: 1024, maxGitBranchChars: 256, maxReplyToChars: 256, maxSinceIdChars: 64,
      maxReqIdChars: 64, maxReasonChars: 256, maxNameChars: 64, maxLineBytes: 1_048_576
    })
  })
})

describe("req_id: at most 64 chars, on every frame type", () => {
  for (const type of frameTypes) {
    it(`${type}: 64 accepted, 65 refused with the 65-char req_id echoed`, () => {
      const ok = decodeLine(JSON.stringify({ ...minimalFrames[type], req_id: chars(64, "r") }))
      expect(ok).toMatchObject({ _tag: "Request", frame: { type, req_id: chars(64, "r") } })
      const tooLong = chars(65, "r")
      const refused = decodeLine(JSON.stringify({ ...minimalFrames[type], req_id: tooLong }))
      expect(refused).toMatchObject({ _tag: "Invalid", code: "bad_args", reqId: tooLong })
      expect(decodeLine(JSON.stringify({ ...minimalFrames[type], req_id: "" }))).toMatchObject({ _tag: "Request" })
    })
  }
})

describe("numeric and list limits", () => {
  it("inbox.limit: 1–100 integers", () => {
    for (const ok of [1, 20, 100]) expectAccepted("inbox", "limit", ok)
    for (const bad of [0, -1, 101, 1.5, "20", null]) expectRefused("inbox", "limit", bad)
    expect(decodeLine('{"type":"inbox"}')).toEqual({ _tag: "Request", frame: { type: "inbox" } })
  })

  it("group_history.limit: 1–500 integers", () => {
    for (const ok of [1, 500]) expectAccepted("group_history", "limit", ok)
    for (const bad of [0, -1, 501, 2.5, "1"]) expectRefused("group_history", "limit", bad)
  })

  it("group_create.members: at most 20 entries, each at most 256 chars (names checked by the handler)", () => {
    const members = (n: number) => Array.from({ length: n }, (_, i) => `peer${i}`)
    expectAccepted("group_create", "members", members(20), members(20))
    expectAccepted("group_create", "members", [], [])
    expectAccepted("group_create", "members", ["not a valid name!", chars(256)], ["not a valid name!", chars(256)])
    expectRefused("group_create", "members", members(21))
    expectRefused("group_create", "members", [chars(257)])
    expectRefused("group_create", "members", "bob")
    expectRefused("group_create", "members", [1])
  })

  for (const type of ["deliver_ack", "mark_read"] as const) {
    it(`${type}.msg_ids: at most 100 ids of 1–256 chars`, () => {
      const ids = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`)
      expectAccepted(type, "msg_ids", ids(100), ids(100))
      expectAccepted(type, "msg_ids", [chars(256)], [chars(256)])
      expectRefused(type, "msg_ids", ids(101))
      expectRefused(type, "msg_ids", [""])
      expectRefused(type, "msg_ids", [chars(257)])
    })
  }

  it("protocol_version is passed through as string or number for the handler to judge", () => {
    for (const version of ["5", "6", 5, 6, "99", ""]) expectAccepted("register", "protocol_version", version)
    for (const bad of [null, true, ["5"], { v: 5 }]) expectRefused("register", "protocol_version", bad)
  })
})

describe("bootstrap and encoding", () => {
  it('the exact bootstrap line {"type":"ping","req_id":"bootstrap"} decodes to a ping', () => {
    expect(decodeLine('{"type":"ping","req_id":"bootstrap"}')).toEqual({
      _tag: "Request",
      frame: { type: "ping", req_id: "bootstrap" }
    })
  })

  it("the pong for it is exactly the v5 bootstrap line", () => {
    expect(encodeFrame(withReqId({ type: "pong" }, "bootstrap"))).toBe('{"type":"pong","req_id":"bootstrap"}')
    expect(encodeFrame({ type: "pong", req_id: "bootstrap" })).toBe('{"type":"pong","req_id":"bootstrap"}')
  })

  it("withReqId leaves req_id absent (not undefined) when the request had none", () => {
    const frame = withReqId({ type: "pong" }, undefined)
    expect(Object.keys(frame)).toEqual(["type"])
    expect(encodeFrame(frame)).toBe('{"type":"pong"}')
  })

  it("errFrame puts type first, then code, message and req_id", () => {
    expect(encodeFrame(errFrame("bad_args", "too long", "r-9"))).toBe(
      '{"type":"err","code":"bad_args","message":"too long","req_id":"r-9"}'
    )
    expect(encodeFrame(errFrame("bad_msg", "not valid JSON", undefined))).toBe(
      '{"type":"err","code":"bad_msg","message":"not valid JSON"}'
    )
  })

  it("a refused line becomes an err frame carrying the line's req_id", () => {
    const decoded = decodeLine(JSON.stringify({ type: "inbox", limit: 101, req_id: "r-3" }))
    expect(decoded._tag).toBe("Invalid")
    if (decoded._tag === "Invalid") {
      const line = encodeFrame(errFrame(decoded.code, decoded.message, decoded.reqId))
      expect(line.startsWith('{"type":"err","code":"bad_args","message":"')).toBe(true)
      expect(JSON.parse(line)).toMatchObject({ type: "err", code: "bad_args", req_id: "r-3" })
      expect(decoded.message).toContain("limit")
    }
  })
})
