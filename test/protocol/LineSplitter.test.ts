/**
 * NDJSON framing: where a read chunk ends must never change which lines come out, and the 1 MiB cap
 * holds while the line is still arriving.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { decodeLine } from "../../src/protocol/Decode.ts"
import { LineSplitter, type SplitResult, splitFrameText } from "../../src/protocol/LineCodec.ts"
import { Limits } from "../../src/protocol/Limits.ts"

const utf8 = new TextEncoder()
const cap = Limits.maxLineBytes

/** Megabyte lines would drown a failure report: compare the tag and each line's length and head. */
const brief = (result: SplitResult) => ({
  _tag: result._tag,
  lines: result.lines.map((line) => `${line.length}:${line.slice(0, 20)}`)
})
const briefLines = (...lines: Array<string>) => lines.map((line) => `${line.length}:${line.slice(0, 20)}`)

/** Feeds `bytes` cut at `cuts` (sorted offsets) and collects every line, including the final one. */
const feed = (bytes: Uint8Array, cuts: ReadonlyArray<number>, maxLineBytes = cap) => {
  const splitter = new LineSplitter(maxLineBytes)
  const lines: Array<string> = []
  const tags: Array<SplitResult["_tag"]> = []
  let from = 0
  for (const to of [...cuts, bytes.length]) {
    const result = splitter.push(bytes.slice(from, to))
    tags.push(result._tag)
    lines.push(...result.lines)
    from = to
  }
  const last = splitter.end()
  if (last !== undefined) lines.push(last)
  return { lines, tags }
}

const frames = [
  { type: "send", to: "bob", text: "héllo 👋🏽 wörld", req_id: "1" },
  { type: "room_msg", room: "lobby", text: "你好，世界。日本語のテキスト", req_id: "2" },
  { type: "ping", req_id: "bootstrap" },
  { type: "group_send", group: "team", text: "𝄞 music 🎶 and 한국어", req_id: "3" },
  { type: "send", to: "bob", text: "\u0000 nul, \u2028 separator, \uD800 lone", req_id: "4" }
]
// Raw UTF-8 in the JSON (not \u escapes), so cuts land inside multi-byte sequences.
const expectedLines = frames.map((frame) =>
  JSON.stringify(frame).replace(/\\u2028/g, "\u2028")
)
const body = expectedLines.join("\n") + "\n"
const bytes = utf8.encode(body)

describe("LineSplitter: chunk boundaries", () => {
  it("the sample really contains multi-byte characters", () => {
    expect(bytes.length).toBeGreaterThan(body.length)
    expect(bytes.some((b) => b >= 0xf0)).toBe(true) // 4-byte sequences (emoji)
    expect(bytes.some((b) => b >= 0xe0 && b < 0xf0)).toBe(true) // 3-byte sequences (CJK)
  })

  it("one push yields exactly the frames' lines, and each decodes to its frame", () => {
    const { lines, tags } = feed(bytes, [])
    expect(tags).toEqual(["Lines"])
    expect(lines).toEqual(expectedLines)
    expect(lines.map((line) => decodeLine(line))).toEqual(
      frames.map((frame) => ({ _tag: "Request", frame }))
    )
  })

  it("a cut at every byte offset yields the same lines as one push", () => {
    for (let offset = 0; offset <= bytes.length; offset++) {
      expect(feed(bytes, [offset]).lines, `cut at ${offset}`).toEqual(expectedLines)
    }
  })

  it("one byte per push yields the same lines", () => {
    const everyByte = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)
    expect(feed(bytes, everyByte).lines).toEqual(expectedLines)
  })

  it.prop(
    "any partition into chunks yields the same lines",
    [fc.uniqueArray(fc.integer({ min: 0, max: bytes.length }), { maxLength: 40 })],
    ([cuts]) => {
      expect(feed(bytes, [...cuts].sort((a, b) => a - b)).lines).toEqual(expectedLines)
    },
    { fastCheck: { numRuns: 500 } }
  )

  const anyLine = fc
    .string({ unit: "binary", minLength: 1, maxLength: 60 })
    .map((s) => s.replace(/[\n\r]/g, ""))
    .filter((s) => s.trim().length > 0 && !s.startsWith("\uFEFF"))

  it.prop(
    "arbitrary well-formed text lines with LF or CRLF endings survive arbitrary chunking",
    [
      fc.array(fc.tuple(anyLine, fc.constantFrom("\n", "\r\n")), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 20 })
    ],
    ([entries, rawCuts]) => {
      const data = utf8.encode(entries.map(([line, eol]) => line + eol).join(""))
      const cuts = [...new Set(rawCuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b)
      expect(feed(data, cuts).lines).toEqual(entries.map(([line]) => line))
    },
    { fastCheck: { numRuns: 500 } }
  )

  it("CRLF endings are stripped, at every cut offset", () => {
    const crlf = utf8.encode(expectedLines.join("\r\n") + "\r\n")
    for (let offset = 0; offset <= crlf.length; offset++) {
      expect(feed(crlf, [offset]).lines, `cut at ${offset}`).toEqual(expectedLines)
    }
  })

  it("empty and whitespace-only lines are skipped", () => {
    const data = utf8.encode('\n\n{"type":"ping"}\r\n\r\n   \n\t\r\n{"type":"pong"}\n\n')
    for (let offset = 0; offset <= data.length; offset++) {
      expect(feed(data, [offset]).lines).toEqual(['{"type":"ping"}', '{"type":"pong"}'])
    }
  })

  it("the final unterminated line comes out of end(), whole, whatever the cut", () => {
    const data = utf8.encode(`${expectedLines[0]}\n${expectedLines[1]}`)
    for (let offset = 0; offset <= data.length; offset++) {
      const splitter = new LineSplitter(cap)
      const first = splitter.push(data.slice(0, offset))
      const second = splitter.push(data.slice(offset))
      expect([...first.lines, ...second.lines]).toEqual([expectedLines[0]])
      expect(splitter.end()).toBe(expectedLines[1])
      // end() hands the line over once.
      expect(splitter.end()).toBeUndefined()
    }
  })

  it("end() with nothing pending, or only a blank remainder, returns undefined", () => {
    const splitter = new LineSplitter(cap)
    expect(splitter.push(utf8.encode('{"type":"ping"}\n')).lines).toEqual(['{"type":"ping"}'])
    expect(splitter.end()).toBeUndefined()
    const blank = new LineSplitter(cap)
    blank.push(utf8.encode("  \r"))
    expect(blank.end()).toBeUndefined()
  })

  it("the splitter copies pending bytes, so a transport reusing its read buffer is harmless", () => {
    const splitter = new LineSplitter(cap)
    const buffer = utf8.encode('{"type":"pi')
    splitter.push(buffer)
    buffer.fill(0x78) // "x": the transport overwrites its buffer with the next read
    expect(splitter.push(utf8.encode('ng"}\n')).lines).toEqual(['{"type":"ping"}'])
  })

  it("invalid UTF-8 bytes become U+FFFD and never break the lines around them", () => {
    const data = new Uint8Array([
      ...utf8.encode('{"type":"ping"}\n'),
      0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x0a, // invalid sequences, truncated 3-byte char, then LF
      ...utf8.encode('{"type":"pong"}\n')
    ])
    for (let offset = 0; offset <= data.length; offset++) {
      const { lines } = feed(data, [offset])
      expect(lines).toHaveLength(3)
      expect(lines[0]).toBe('{"type":"ping"}')
      expect(lines[1]).toMatch(/^\uFFFD+\(\uFFFD+$/)
      expect(lines[2]).toBe('{"type":"pong"}')
    }
  })
})

describe("LineSplitter: the 1 MiB line cap", () => {
  const lineOf = (size: number) => "x".repeat(size)

  it("a line of exactly 1,048,576 bytes is accepted", () => {
    const line = lineOf(cap)
    const result = new LineSplitter(cap).push(utf8.encode(`${line}\n`))
    expect(brief(result)).toEqual({ _tag: "Lines", lines: briefLines(line) })
    expect(result.lines[0] === line).toBe(true)
  })

  it("a line of exactly 1,048,576 bytes of multi-byte text is accepted (bytes, not chars, are counted)", () => {
    // 3/4 of the cap in 3-byte chars, 1/8 in 4-byte chars, 1/8 in ASCII.
    const line = "€".repeat(cap / 4) + "😀".repeat(cap / 32) + "x".repeat(cap / 8)
    expect(utf8.encode(line).length).toBe(cap)
    const result = new LineSplitter(cap).push(utf8.encode(`${line}\n`))
    expect(brief(result)).toEqual({ _tag: "Lines", lines: briefLines(line) })
    expect(result.lines[0] === line).toBe(true)
    const over = new LineSplitter(cap).push(utf8.encode(`${line}é\n`)) // one 2-byte char too many
    expect(over._tag).toBe("LineTooLong")
  })

  it("a line of 1,048,577 bytes is LineTooLong", () => {
    const result = new LineSplitter(cap).push(utf8.encode(`${lineOf(cap + 1)}\n`))
    expect(result).toEqual({ _tag: "LineTooLong", lines: [] })
  })

  it("an unterminated line of exactly 1,048,576 bytes is still returned by end()", () => {
    const splitter = new LineSplitter(cap)
    expect(splitter.push(utf8.encode(lineOf(cap)))._tag).toBe("Lines")
    const last = splitter.end()
    expect(last?.length).toBe(cap)
    expect(last === lineOf(cap)).toBe(true)
  })

  it("a CRLF-terminated line of exactly 1,048,576 bytes is accepted (the CR is part of the line ending)", () => {
    const line = lineOf(cap)
    const result = new LineSplitter(cap).push(utf8.encode(`${line}\r\n`))
    expect(brief(result)).toEqual({ _tag: "Lines", lines: briefLines(line) })
    // and the same when the CR and the LF arrive in separate chunks
    const splitter = new LineSplitter(cap)
    expect(splitter.push(utf8.encode(`${line}\r`))._tag).toBe("Lines")
    expect(brief(splitter.push(utf8.encode("\n")))).toEqual({ _tag: "Lines", lines: briefLines(line) })
  })

  it("a CRLF-terminated line of 1,048,577 bytes is LineTooLong", () => {
    expect(new LineSplitter(cap).push(utf8.encode(`${lineOf(cap + 1)}\r\n`))._tag).toBe("LineTooLong")
  })

  it.prop(
    "an open line is refused by the first chunk that takes it past the cap, before the rest arrives",
    // Tiny chunks are covered with a tiny cap below; here up to 4,096 pushes per run.
    [fc.integer({ min: 256, max: 64 * 1024 }), fc.integer({ min: 0, max: 3 })],
    ([chunkSize, extraChunks]) => {
      const splitter = new LineSplitter(cap)
      const chunk = new Uint8Array(chunkSize).fill(0x61)
      // The first chunk index whose bytes push the pending line strictly past the cap.
      const overflowAt = Math.floor(cap / chunkSize)
      for (let i = 0; i < overflowAt; i++) {
        const result = splitter.push(chunk)
        if (result._tag !== "Lines" || result.lines.length > 0) {
          throw new Error(`chunk ${i} of ${overflowAt}: ${result._tag} before the cap was passed`)
        }
      }
      // Still no newline anywhere, and the rest of the line (and more) has not been sent yet.
      expect(splitter.push(chunk)).toEqual({ _tag: "LineTooLong", lines: [] })
      // From then on the stream has no framing: nothing is accepted, nothing is held.
      for (let i = 0; i < extraChunks; i++) {
        expect(splitter.push(utf8.encode('\n{"type":"ping"}\n'))).toEqual({ _tag: "LineTooLong", lines: [] })
      }
      expect(splitter.end()).toBeUndefined()
    },
    { fastCheck: { numRuns: 40 } }
  )

  it("a small cap shows the exact boundary: pending bytes never exceed the cap", () => {
    for (let max = 1; max <= 32; max++) {
      for (let chunkSize = 1; chunkSize <= max + 2; chunkSize++) {
        const splitter = new LineSplitter(max)
        let sent = 0
        let tag: SplitResult["_tag"] = "Lines"
        // Bounded: a splitter that never refuses must fail this test, not hang it.
        while (tag === "Lines" && sent <= 4 * max + chunkSize) {
          tag = splitter.push(new Uint8Array(chunkSize).fill(0x61))._tag
          sent += chunkSize
        }
        // Refused by the chunk that crossed the cap, never later.
        expect(sent - chunkSize).toBeLessThanOrEqual(max)
        expect(sent).toBeGreaterThan(max)
      }
    }
  })

  it("lines before the overlong one in the same chunk are still returned", () => {
    const data = utf8.encode(`{"type":"ping","req_id":"a"}\r\n\n{"type":"ping","req_id":"b"}\n${lineOf(cap + 1)}\n{"type":"ping","req_id":"c"}\n`)
    expect(new LineSplitter(cap).push(data)).toEqual({
      _tag: "LineTooLong",
      lines: ['{"type":"ping","req_id":"a"}', '{"type":"ping","req_id":"b"}']
    })
  })

  it("lines before an overlong unterminated tail in the same chunk are still returned", () => {
    const data = utf8.encode(`{"type":"ping","req_id":"a"}\n${lineOf(cap + 1)}`)
    expect(new LineSplitter(cap).push(data)).toEqual({ _tag: "LineTooLong", lines: ['{"type":"ping","req_id":"a"}'] })
  })

  it("after LineTooLong nothing more is accepted, not even well-formed lines or end()", () => {
    const splitter = new LineSplitter(cap)
    expect(splitter.push(utf8.encode(lineOf(cap + 1)))._tag).toBe("LineTooLong")
    expect(splitter.push(utf8.encode('\n{"type":"ping"}\n'))).toEqual({ _tag: "LineTooLong", lines: [] })
    expect(splitter.push(utf8.encode('{"type":"ping"}'))).toEqual({ _tag: "LineTooLong", lines: [] })
    expect(splitter.end()).toBeUndefined()
  })

  it("the cap counts each line on its own: many lines just under the cap pass in one chunk", () => {
    const line = lineOf(cap - 1)
    const result = new LineSplitter(cap).push(utf8.encode(`${line}\n${line}\n${line}\n`))
    expect(result._tag).toBe("Lines")
    expect(result.lines).toHaveLength(3)
  })
})

describe("splitFrameText", () => {
  it("splits a WebSocket text frame into lines, stripping CRLF and skipping blank lines", () => {
    expect(splitFrameText('{"type":"ping"}\r\n\n  \n{"type":"pong"}\n{"type":"hello"}')).toEqual([
      '{"type":"ping"}',
      '{"type":"pong"}',
      '{"type":"hello"}'
    ])
    expect(splitFrameText("")).toEqual([])
    expect(splitFrameText("\n\r\n")).toEqual([])
  })

  it.prop(
    "agrees with LineSplitter + end() on the UTF-8 bytes of the same text",
    [
      fc.array(
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 40 }).map((s) => s.replace(/\uFEFF/g, "")),
          fc.constantFrom("", " ", "\r", "\r\n", "\n", "👋🏽", "世界")
        ),
        { maxLength: 10 }
      )
    ],
    ([parts]) => {
      const text = parts.join("\n")
      expect(splitFrameText(text)).toEqual(feed(utf8.encode(text), []).lines)
    },
    { fastCheck: { numRuns: 500 } }
  )
})
