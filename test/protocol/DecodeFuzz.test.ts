/**
 * Hostile lines: whatever a peer sends, `decodeLine` answers with a bounded refusal (or a request),
 * never throws, never touches shared prototypes, and keeps the line's `req_id` whenever it can be read.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { type Decoded, decodeLine } from "../../src/protocol/Decode.ts"
import { ClientFrames, type ClientFrameType } from "../../src/protocol/Frames.ts"
import { LineSplitter } from "../../src/protocol/LineCodec.ts"
import { Limits } from "../../src/protocol/Limits.ts"
import { minimalFrames, nestedArrays, nestedObjects } from "./Fixtures.ts"

const frameTypes = Object.keys(ClientFrames) as Array<ClientFrameType>
const maxMessageChars = 310

const prototypeSnapshot = () =>
  [Object.prototype, Array.prototype, Function.prototype, String.prototype].map((proto) =>
    Object.getOwnPropertyNames(proto).sort().join(",")
  )
const prototypesBefore = prototypeSnapshot()

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const parse = (line: string): { readonly ok: true; readonly json: unknown } | { readonly ok: false } => {
  try {
    return { ok: true, json: JSON.parse(line) }
  } catch {
    return { ok: false }
  }
}

/**
 * What the protocol promises for any line, stated independently of how Decode.ts does it: the
 * refusal code follows from the line's shape, and `req_id` is echoed iff it is an own string.
 */
const checkLine = (line: string): Decoded => {
  const result = decodeLine(line)
  const parsed = parse(line)
  const json = parsed.ok ? parsed.json : undefined
  const object = isRecord(json) ? json : undefined
  const reqId = object !== undefined && Object.hasOwn(object, "req_id") && typeof object.req_id === "string"
    ? object.req_id
    : undefined
  const type = object !== undefined && Object.hasOwn(object, "type") ? object.type : undefined
  const known = typeof type === "string" && Object.hasOwn(ClientFrames, type)

  if (result._tag === "Invalid") {
    expect(typeof result.message).toBe("string")
    expect(result.message.length).toBeGreaterThan(0)
    expect(result.message.length).toBeLessThanOrEqual(maxMessageChars)
    expect(result.reqId).toBe(reqId)
    expect(result.code).toBe(known ? "bad_args" : "bad_msg")
  } else {
    expect(known).toBe(true)
    expect(result.frame.type).toBe(type)
    expect(result.frame.req_id).toBe(reqId)
    // Only the schema's own fields come out: nothing smuggled in, nothing inherited.
    const fields = Object.keys(ClientFrames[type as ClientFrameType].fields)
    for (const key of Object.keys(result.frame)) expect(fields).toContain(key)
    expect(Object.getPrototypeOf(result.frame)).toBe(Object.prototype)
  }
  return result
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const allFieldNames = [...new Set(frameTypes.flatMap((type) => Object.keys(ClientFrames[type].fields)))]
const dangerousKeys = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf"]

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u))
const nastyString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.string({ unit: "binary-ascii", maxLength: 30 }),
  fc.string({ unit: loneSurrogate, maxLength: 3 }),
  fc.constantFrom("", "\u0000", "a\u0000b", " ", "\u2028", "\uFEFF", "💥", ...dangerousKeys, ...frameTypes)
)

/** Literal JSON value texts that JS values cannot express (overflowing numbers, escapes, raw keys). */
const specialValueText = fc.constantFrom(
  "1e400", "-1e400", "1e-400", "-0", "0.0", "5.0", "1.5", "123456789012345678901234567890",
  "9007199254740993", "-9007199254740993", "1E2", "true", "false", "null", "[]", "{}",
  '"\\u0000"', '"\\ud800"', '"\\udfff\\ud800"', '"\\uFEFF"', '"\\n"',
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '[{"__proto__":{"polluted":"yes"}}]',
  '{"prototype":{"polluted":"yes"},"__proto__":[]}'
)
const valueText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: specialValueText },
  { weight: 2, arbitrary: nastyString.map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: fc.constantFrom(...frameTypes).map((t) => JSON.stringify(t)) }
)
const keyText = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("type", "req_id", ...allFieldNames) },
  { weight: 2, arbitrary: fc.constantFrom(...dangerousKeys) },
  { weight: 1, arbitrary: nastyString }
).map((k) => JSON.stringify(k))

/** Objects written as text, so duplicate keys and own `__proto__` keys reach JSON.parse. */
const objectText = fc
  .tuple(
    fc.option(fc.constantFrom(...frameTypes, "PING", "", "__proto__", "constructor", "toString"), { nil: undefined }),
    fc.option(nastyString, { nil: undefined }),
    fc.array(fc.tuple(keyText, valueText), { maxLength: 8 }),
    fc.boolean()
  )
  .map(([type, reqId, entries, typeLast]) => {
    const parts = entries.map(([k, v]) => `${k}:${v}`)
    if (reqId !== undefined) parts.unshift(`"req_id":${JSON.stringify(reqId)}`)
    if (type !== undefined) {
      const typePart = `"type":${JSON.stringify(type)}`
      if (typeLast) parts.push(typePart)
      else parts.unshift(typePart)
    }
    return `{${parts.join(",")}}`
  })

/** A valid frame's text, then broken by one edit. */
const mutatedFrame = fc
  .tuple(fc.constantFrom(...frameTypes), fc.string({ maxLength: 64 }), fc.nat(), nastyString, fc.constantFrom("cut", "drop", "insert", "replace"))
  .map(([type, reqId, at, insert, edit]) => {
    const text = JSON.stringify({ ...minimalFrames[type], req_id: reqId })
    const i = at % (text.length + 1)
    if (edit === "cut") return text.slice(0, i)
    if (edit === "drop") return text.slice(0, i) + text.slice(i + 1)
    if (edit === "insert") return text.slice(0, i) + insert + text.slice(i)
    return text.slice(0, i) + insert + text.slice(i + insert.length)
  })

const fuzz = { numRuns: 3000 } as const

describe("decodeLine fuzz", () => {
  it.prop("arbitrary text (any code point, lone surrogates, NUL) never throws", [nastyString], ([line]) => {
    checkLine(line)
  }, { fastCheck: fuzz })

  it.prop("arbitrary JSON values, top level included, never throw", [fc.jsonValue({ maxDepth: 4 })], ([value]) => {
    const result = checkLine(JSON.stringify(value))
    if (!isRecord(value)) expect(result).toMatchObject({ _tag: "Invalid", code: "bad_msg" })
  }, { fastCheck: fuzz })

  it.prop(
    "frame-shaped objects with hostile keys and values follow the refusal rules",
    [objectText],
    ([line]) => {
      checkLine(line)
    },
    { fastCheck: { numRuns: 6000 } }
  )

  it.prop("valid frames broken by one edit follow the refusal rules", [mutatedFrame], ([line]) => {
    checkLine(line)
  }, { fastCheck: fuzz })

  it.prop(
    "random bytes, including invalid UTF-8, through LineSplitter never break decodeLine",
    [fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(new TextEncoder().encode('{"type":"ping","req_id":"ok"}\n'))), { maxLength: 12 })],
    ([chunks]) => {
      const splitter = new LineSplitter(Limits.maxLineBytes)
      const lines: Array<string> = []
      for (const chunk of chunks) lines.push(...splitter.push(chunk).lines)
      const last = splitter.end()
      if (last !== undefined) lines.push(last)
      for (const line of lines) checkLine(line)
    },
    { fastCheck: { numRuns: 1000 } }
  )
})

// ---------------------------------------------------------------------------------------------
// Wrong types, field by field
// ---------------------------------------------------------------------------------------------

type FieldKind = "string" | "nullableString" | "boolean" | "int" | "stringArray" | "stringOrNumber"
const fieldKinds: Record<string, FieldKind> = {
  req_id: "string", name: "string", new_name: "string", to: "string", text: "string", question: "string",
  broadcast_id: "string", ask_id: "string", room: "string", msg_id: "string", group: "string",
  peer: "string", reason: "string", client_id: "string", since_id: "string", client: "string",
  cwd: "nullableString", git_branch: "nullableString", reply_to: "nullableString",
  urgent: "boolean", notify_read: "boolean", exclude_self: "boolean",
  limit: "int",
  members: "stringArray", msg_ids: "stringArray",
  protocol_version: "stringOrNumber"
}

const anyObject = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })
const anyArray = fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 })
const anyNumber = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))
const wrongValue: Record<FieldKind, fc.Arbitrary<unknown>> = {
  string: fc.oneof(anyNumber, fc.boolean(), fc.constant(null), anyArray, anyObject),
  nullableString: fc.oneof(anyNumber, fc.boolean(), anyArray, anyObject),
  boolean: fc.oneof(fc.constantFrom("true", "false", "", "1"), fc.constantFrom(0, 1), fc.constant(null), anyArray, anyObject),
  int: fc.oneof(
    fc.constantFrom("5", "1", ""),
    fc.double({ min: 1.000001, max: 99.999, noNaN: true }),
    fc.boolean(),
    fc.constant(null),
    anyArray,
    anyObject
  ),
  stringArray: fc.oneof(
    fc.string(),
    anyNumber,
    fc.boolean(),
    fc.constant(null),
    anyObject,
    fc.array(fc.oneof(anyNumber, fc.boolean(), fc.constant(null), anyObject), { minLength: 1, maxLength: 3 })
  ),
  stringOrNumber: fc.oneof(fc.boolean(), fc.constant(null), anyArray, anyObject)
}

const kindOf = (field: string): FieldKind => {
  const kind = fieldKinds[field]
  if (kind === undefined) throw new Error(`no wrong-value generator for field '${field}': add it to fieldKinds`)
  return kind
}

describe("wrong types for every field", () => {
  it("every field of every frame has a generator", () => {
    for (const type of frameTypes) {
      for (const field of Object.keys(ClientFrames[type].fields)) {
        if (field !== "type") expect(wrongValue[kindOf(field)]).toBeDefined()
      }
    }
  })

  for (const type of frameTypes) {
    const fields = Object.keys(ClientFrames[type].fields).filter((field) => field !== "type")
    if (fields.length === 0) continue
    it.prop(
      `${type}: a wrong-typed field is bad_args with the req_id`,
      [fc.constantFrom(...fields).chain((field) => fc.tuple(fc.constant(field), wrongValue[kindOf(field)]))],
      ([[field, value]]) => {
        const frame = { ...minimalFrames[type], req_id: "rq-7", [field]: value }
        const result = checkLine(JSON.stringify(frame))
        expect(result).toMatchObject({
          _tag: "Invalid",
          code: "bad_args",
          reqId: field === "req_id" ? undefined : "rq-7"
        })
        if (result._tag === "Invalid") expect(result.message).toContain(field)
      },
      { fastCheck: { numRuns: 120 } }
    )
  }

  it("a wrong-typed or missing type is bad_msg, with the req_id", () => {
    for (const type of [null, 1, true, [], {}, ["ping"], { type: "ping" }]) {
      expect(checkLine(JSON.stringify({ type, req_id: "r" }))).toMatchObject({ code: "bad_msg", reqId: "r" })
    }
    expect(checkLine('{"req_id":"r"}')).toMatchObject({ code: "bad_msg", reqId: "r" })
    expect(checkLine('{"type":"teleport","req_id":"r"}')).toMatchObject({ code: "bad_msg", reqId: "r" })
    expect(checkLine('{"type":"Ping","req_id":"r"}')).toMatchObject({ code: "bad_msg", reqId: "r" })
  })

  it("non-JSON and non-object lines are bad_msg without a req_id", () => {
    for (const line of ['{"type":"ping","req_id":"r"', "ping", '"{\\"type\\":\\"ping\\"}"', "[]", "null", "42", '[{"type":"ping","req_id":"r"}]', '{"type":"ping"} x']) {
      expect(checkLine(line)).toMatchObject({ _tag: "Invalid", code: "bad_msg", reqId: undefined })
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Targeted hostile inputs
// ---------------------------------------------------------------------------------------------

describe("prototype keys", () => {
  const cases: Array<[string, Partial<Decoded>]> = [
    ['{"__proto__":{"type":"ping","req_id":"r"}}', { _tag: "Invalid", code: "bad_msg", reqId: undefined }],
    ['{"type":"ping","__proto__":{"req_id":"inherited"}}', { _tag: "Request" }],
    ['{"type":"ping","req_id":"r","__proto__":{"polluted":"yes"}}', { _tag: "Request" }],
    ['{"type":"ping","req_id":"r","constructor":{"prototype":{"polluted":"yes"}}}', { _tag: "Request" }],
    ['{"type":"ping","req_id":"r","prototype":{"polluted":"yes"}}', { _tag: "Request" }],
    ['{"type":"send","to":"bob","text":"x","__proto__":{"urgent":true,"notify_read":true}}', { _tag: "Request" }],
    ['{"type":"register","name":"a","__proto__":{"cwd":"/etc"}}', { _tag: "Request" }],
    ['{"type":"group_create","name":"t","members":["__proto__","constructor","prototype"],"req_id":"r"}', { _tag: "Request" }],
    ['{"type":"deliver_ack","msg_ids":[{"__proto__":{"polluted":"yes"}}],"req_id":"r"}', { _tag: "Invalid", code: "bad_args", reqId: "r" }],
    ['{"type":"send","to":{"__proto__":{"polluted":"yes"}},"text":"x","req_id":"r"}', { _tag: "Invalid", code: "bad_args", reqId: "r" }],
    ['{"type":"__proto__","req_id":"r"}', { _tag: "Invalid", code: "bad_msg", reqId: "r" }],
    ['{"type":"constructor","req_id":"r"}', { _tag: "Invalid", code: "bad_msg", reqId: "r" }],
    ['{"type":"hasOwnProperty","req_id":"r"}', { _tag: "Invalid", code: "bad_msg", reqId: "r" }],
    ['{"type":"toString","req_id":"r"}', { _tag: "Invalid", code: "bad_msg", reqId: "r" }],
    ['{"type":"ping","req_id":"__proto__"}', { _tag: "Request" }],
    ['{"type":"rename","new_name":"__proto__","req_id":"r"}', { _tag: "Request" }]
  ]
  for (const [line, expected] of cases) {
    it(`${line}`, () => {
      const result = checkLine(line)
      expect(result).toMatchObject(expected)
      if (result._tag === "Request") {
        // Nothing from a `__proto__` key may appear as a field, own or inherited.
        expect("polluted" in result.frame).toBe(false)
        if (line.includes('"__proto__":{"urgent"')) expect(result.frame).toEqual({ type: "send", to: "bob", text: "x" })
        if (line.includes('"__proto__":{"cwd"')) expect(result.frame).toMatchObject({ cwd: "" })
        if (line.includes('"__proto__":{"req_id"')) expect(result.frame).toEqual({ type: "ping" })
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    })
  }
})

describe("deep nesting, huge numbers, NUL and surrogates", () => {
  const depth = 100_000

  it("100k nested arrays or objects at top level are bad_msg", () => {
    expect(checkLine(nestedArrays(depth))).toMatchObject({ code: "bad_msg" })
    expect(checkLine(nestedObjects(depth))).toMatchObject({ code: "bad_msg" })
  })

  it("100k nested arrays in an ignored extra field leave the frame intact", () => {
    expect(checkLine(`{"type":"ping","req_id":"r","extra":${nestedArrays(depth)}}`)).toEqual({
      _tag: "Request",
      frame: { type: "ping", req_id: "r" }
    })
  })

  it("100k nested arrays as the type are bad_msg with the req_id", () => {
    expect(checkLine(`{"type":${nestedArrays(depth)},"req_id":"r"}`)).toMatchObject({ code: "bad_msg", reqId: "r" })
  })

  // A few kilobytes of brackets in a schema field must be a bad_args like any other wrong type:
  // the refusal message must not try to print the whole value recursively (one throwing line would
  // take the connection, or the hub, down with it).
  // Each distinct field name once, with the first frame type that has it: the schema behind a field
  // name is what varies, and every overflowing case costs tens of milliseconds.
  const fieldSamples = new Map<string, ClientFrameType>()
  for (const type of frameTypes) {
    for (const field of Object.keys(ClientFrames[type].fields)) {
      if (field !== "type" && !fieldSamples.has(field)) fieldSamples.set(field, type)
    }
  }

  it("100k nested arrays/objects in any schema field are bad_args, never a thrown RangeError", () => {
    expect([...fieldSamples.keys()].sort()).toEqual(Object.keys(fieldKinds).sort())
    const failures: Array<string> = []
    for (const [field, type] of fieldSamples) {
      for (const [shape, deep] of [["arrays", nestedArrays(depth)], ["objects", nestedObjects(depth)]] as const) {
        const line = JSON.stringify({ ...minimalFrames[type], req_id: "r", [field]: 0 }).replace(
          `"${field}":0`,
          `"${field}":${deep}`
        )
        try {
          expect(checkLine(line)).toMatchObject({
            _tag: "Invalid",
            code: "bad_args",
            reqId: field === "req_id" ? undefined : "r"
          })
        } catch (error) {
          failures.push(`${type}.${field} (${shape}): ${String(error).split("\n")[0]!.slice(0, 80)}`)
        }
      }
    }
    expect(failures).toEqual([])
  })

  it("even 3,000 nested arrays (a 6 KB line) in a field are bad_args", () => {
    expect(() => decodeLine(`{"type":"ping","req_id":${nestedArrays(3000)}}`)).not.toThrow()
    expect(checkLine(`{"type":"send","to":${nestedArrays(3000)},"text":"x","req_id":"r"}`)).toMatchObject({
      code: "bad_args",
      reqId: "r"
    })
  })

  it("huge, tiny and non-integer numbers are refused where an integer is expected", () => {
    for (const limit of ["1e400", "-1e400", "123456789012345678901234567890", "1.5", "1e-400", "-0.5", "NaN", "Infinity"]) {
      const line = `{"type":"inbox","limit":${limit},"req_id":"r"}`
      const result = checkLine(line)
      expect(result, line).toMatchObject({ _tag: "Invalid", code: parse(line).ok ? "bad_args" : "bad_msg" })
    }
    // JSON has one number type: 5.0 is the integer 5.
    expect(checkLine('{"type":"inbox","limit":5.0}')).toEqual({ _tag: "Request", frame: { type: "inbox", limit: 5 } })
    expect(checkLine('{"type":"group_history","group":"g","limit":5e2}')).toMatchObject({ _tag: "Request", frame: { limit: 500 } })
  })

  it("an overflowing protocol_version is carried as a number for the handler to refuse", () => {
    expect(checkLine('{"type":"register","name":"a","protocol_version":1e400}')).toMatchObject({
      _tag: "Request",
      frame: { protocol_version: Infinity }
    })
  })

  it("NUL: escaped inside strings is data, raw is not JSON", () => {
    expect(checkLine('{"type":"send","to":"bob","text":"a\\u0000b","req_id":"r\\u0000"}')).toEqual({
      _tag: "Request",
      frame: { type: "send", to: "bob", text: "a\u0000b", req_id: "r\u0000" }
    })
    expect(checkLine('{"type":"ping","req_id":"a\u0000b"}')).toMatchObject({ code: "bad_msg", reqId: undefined })
    expect(checkLine('\u0000{"type":"ping"}')).toMatchObject({ code: "bad_msg" })
    expect(checkLine('{"type":"ping\\u0000"}')).toMatchObject({ code: "bad_msg" })
    expect(checkLine('{"type":"register","name":"a\\u0000","req_id":"r"}')).toMatchObject({ code: "bad_args", reqId: "r" })
  })

  it("lone surrogates survive in text and req_id and are refused in names", () => {
    expect(checkLine('{"type":"send","to":"bob","text":"\\ud800x\\udfff","req_id":"\\udc00"}')).toEqual({
      _tag: "Request",
      frame: { type: "send", to: "bob", text: "\ud800x\udfff", req_id: "\udc00" }
    })
    // raw (unescaped) lone surrogate in the JS string given to decodeLine
    expect(checkLine('{"type":"ping","req_id":"\ud800"}')).toEqual({ _tag: "Request", frame: { type: "ping", req_id: "\ud800" } })
    expect(checkLine('{"type":"rename","new_name":"\\ud800","req_id":"r"}')).toMatchObject({ code: "bad_args", reqId: "r" })
    expect(checkLine('\ud800')).toMatchObject({ code: "bad_msg" })
  })

  it("a refusal message stays bounded even when the offending value is a megabyte", () => {
    const huge = "x".repeat(Limits.maxLineBytes - 100)
    for (const line of [
      `{"type":"send","to":"${huge}","text":"x","req_id":"r"}`,
      `{"type":"${huge}","req_id":"r"}`,
      `{"type":"inbox","since_id":"${huge}","req_id":"r"}`,
      `{"type":"deliver_ack","msg_ids":${JSON.stringify(Array.from({ length: 50_000 }, () => 1))},"req_id":"r"}`,
      `{"type":"send","to":"bob","text":{${Array.from({ length: 50_000 }, (_, i) => `"k${i}":${i}`).join(",")}},"req_id":"r"}`,
      `${huge}`
    ]) {
      const result = checkLine(line)
      expect(result._tag).toBe("Invalid")
    }
  })

  it("no shared prototype gained or lost a property during the whole run", () => {
    expect(prototypeSnapshot()).toEqual(prototypesBefore)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(([] as unknown as Record<string, unknown>).polluted).toBeUndefined()
  })
})
