/**
 * Review probes of the hot-path rebuild: the fast decoders against the Schemas on hostile keys and
 * values; answers in request order with refusals and bad lines between stored sends; group bursts
 * interleaved with a removal of the sender and with a non-member.
 */
import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { decodeLine } from "../../src/protocol/Decode.ts"
import { decodeFast } from "../../src/protocol/FastDecode.ts"
import { ClientFrames } from "../../src/protocol/Frames.ts"
import { startInProcessHub } from "../support/TestHub.ts"
import { pipeline, useCleanup, waitPushes } from "../messaging/helpers.ts"

const schemaDecode = (json: Record<string, unknown>) =>
  Schema.decodeUnknownEither(ClientFrames[json.type as "send"] as Schema.Schema<unknown, unknown>, {
    errors: "first",
    onExcessProperty: "ignore"
  })(json)

const use = useCleanup()

describe("review: FastDecode on hostile input", () => {
  const lines = [
    '{"type":"send","__proto__":{"to":"bob","text":"x"}}',
    '{"type":"send","to":"bob","text":"x","__proto__":{"urgent":"yes"}}',
    '{"type":"send","to":"bob","text":"x","constructor":1,"toString":2}',
    '{"type":"send","to":"bob","text":"\\ud800"}',
    '{"type":"send","to":"bob","text":"\\udc00\\ud800"}',
    '{"type":"send","to":"1","text":"2","urgent":"true"}',
    '{"type":"send","to":"bob\\n","text":"x"}',
    '{"type":"send","to":"bob","text":"x","client_id":""}',
    '{"type":"send","to":"bob","text":"x","reply_to":null,"notify_read":false}',
    '{"type":"group_send","group":"t","text":"x","client_id":null}',
    '{"type":"ping","req_id":null}',
    '{"type":"pong","req_id":7}',
    `{"type":"send","to":"bob","text":"${"a".repeat(524_288)}"}`,
    `{"type":"send","to":"bob","text":"${"a".repeat(524_289)}"}`
  ]
  it.each(lines.map((l) => [l.slice(0, 90), l]))("agrees with the Schema: %s", (_, line) => {
    const json = JSON.parse(line) as Record<string, unknown>
    const fast = decodeFast(json.type as string, json)
    const viaSchema = schemaDecode(json)
    if (fast !== undefined) {
      expect(Either.isRight(viaSchema)).toBe(true)
      expect(fast).toEqual(Either.getOrThrow(viaSchema))
    }
    // Whatever path decides, the line's outcome is the Schema's.
    const decoded = decodeLine(line)
    expect(decoded._tag).toBe(Either.isRight(viaSchema) ? "Request" : "Invalid")
  })
})

describe("review: answers and group bursts on the wire", () => {
  it("stored sends, refusals and bad lines are answered in request order, each with its req_id", async () => {
    const hub = use.hub(await startInProcessHub())
    const alice = await use.peer(hub, "alice")
    await use.peer(hub, "bob")
    const frames: Array<Record<string, unknown>> = []
    for (let i = 0; i < 300; i++) {
      frames.push({ type: "send", to: "bob", text: `m${i}` })
      if (i % 7 === 0) frames.push({ type: "send", to: "bob@elsewhere", text: "no" })
      if (i % 11 === 0) frames.push({ type: "group_send", group: "nope", text: "no" })
      if (i % 13 === 0) frames.push({ type: "inbox", limit: 0 })
    }
    const answers = await pipeline(alice, frames, "q")
    answers.forEach((answer, i) => {
      expect(answer, `answer ${i}`).toBeDefined()
      const f = frames[i]!
      if (f.type === "send" && f.to === "bob") expect(answer.type).toBe("send_ack")
      else expect(answer.type).toBe("err")
    })
    // Order on the wire: req_ids come back exactly in request order.
    const ids = alice.frames.filter((f) => typeof f.req_id === "string" && f.req_id.startsWith("q")).map((f) => f.req_id)
    expect(ids).toEqual(frames.map((_, i) => `q${i}`))
  })

  it("a group burst with the sender removed between sends, and a non-member, answers each correctly", async () => {
    const hub = use.hub(await startInProcessHub())
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    const mallory = await use.peer(hub, "mallory")
    expect(await alice.request({ type: "group_create", name: "team", members: ["bob"] })).toMatchObject({ type: "group_created" })
    const from = alice.frames.length
    const bobSends = Array.from({ length: 40 }, (_, i) => ({ type: "group_send", group: "team", text: `b${i}` }))
    const pending = pipeline(bob, bobSends, "b")
    const mal = pipeline(mallory, [{ type: "group_send", group: "team", text: "m" }], "m")
    const removed = await alice.request({ type: "group_remove", group: "team", peer: "bob" })
    expect(removed).toMatchObject({ type: "group_ack" })
    const acks = await pending
    expect((await mal)[0]).toMatchObject({ type: "err", code: "not_member" })
    // Some prefix was accepted, then everything refused: never an accepted send after a refusal.
    const kinds = acks.map((a) => a.type)
    const firstErr = kinds.indexOf("err")
    if (firstErr !== -1) expect(kinds.slice(firstErr).every((k) => k === "err")).toBe(true)
    const accepted = kinds.filter((k) => k === "group_ack").length
    const pushes = await waitPushes(alice, "incoming_group_msg", accepted + 1, from)
    expect(pushes.filter((p) => p.kind !== "system").map((p) => p.text)).toEqual(bobSends.slice(0, accepted).map((s) => s.text))
  })
})

describe("review: back-pressure", () => {
  it("3,000 pipelined sends (past the 1,024 outstanding) are all acked, in order, and the session reads on", async () => {
    const hub = use.hub(await startInProcessHub())
    const alice = await use.peer(hub, "alice")
    await use.peer(hub, "bob")
    const frames = Array.from({ length: 3000 }, (_, i) => (i % 500 === 499 ? { type: "ping" } : { type: "send", to: "bob", text: `p${i}` }))
    const answers = await pipeline(alice, frames, "p", 60_000)
    answers.forEach((a, i) => expect(a?.type, `answer ${i}`).toBe(frames[i]!.type === "ping" ? "pong" : "send_ack"))
    expect(await alice.request({ type: "ping" })).toMatchObject({ type: "pong" })
  })
})
