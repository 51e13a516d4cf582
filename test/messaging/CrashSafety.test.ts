/**
 * Scenario A1: `kill -9` the real hub process at a random (seeded) moment during a windowed burst of
 * direct and group sends; after a restart on the same data directory every acknowledged message is
 * there, in send order, with the ids the acks gave, and nothing else but sends whose ack was still
 * in flight. Scenario A9: a write the store refuses is answered with `mailbox_error`, not an ack,
 * and the hub stays up.
 */
import { describe, expect, it } from "vitest"
import type { Frame, NdjsonClient } from "../support/NdjsonClient.ts"
import { startInProcessHub, startProcessHub } from "../support/TestHub.ts"
import { drainInbox, pipeline, pushesSince, settle, useCleanup } from "./helpers.ts"

const use = useCleanup()

/** mulberry32: a tiny seeded PRNG, so a failing seed can be replayed. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Sent {
  readonly kind: "direct" | "group"
  readonly text: string
  readonly reqId: string
}

/**
 * Sends `plan` keeping at most `window` requests unanswered, and SIGKILLs the hub `killDelayMs`
 * after the write that brings the sends to `killAt`: the hub dies with sends read, half-stored or
 * still in the socket.
 */
const burstUntilKilled = (
  client: NdjsonClient,
  plan: ReadonlyArray<Sent>,
  options: { readonly window: number; readonly killAt: number; readonly killDelayMs: number; readonly kill: () => void }
) =>
  new Promise<{ written: number; answers: Map<string, Frame> }>((resolve) => {
    const answers = new Map<string, Frame>()
    const from = client.frames.length
    let written = 0
    let killing = false
    const pump = () => {
      for (const frame of client.frames.slice(from + answers.size)) if (frame.req_id !== undefined) answers.set(frame.req_id, frame)
      if (killing) return
      let batch = ""
      while (written < plan.length && written - answers.size < options.window && !(written >= options.killAt && batch !== "")) {
        const sent = plan[written++]!
        batch +=
          JSON.stringify(
            sent.kind === "direct"
              ? { type: "send", to: "bob", text: sent.text, req_id: sent.reqId }
              : { type: "group_send", group: "crew", text: sent.text, req_id: sent.reqId }
          ) + "\n"
      }
      if (batch !== "") client.writeRaw(batch)
      if (written >= options.killAt) {
        killing = true
        setTimeout(options.kill, options.killDelayMs)
      }
    }
    client.socket.on("data", pump)
    client.socket.once("close", () => {
      pump()
      resolve({ written, answers })
    })
    pump()
  })

/**
 * `normal` is the hub's default; `full` answers only once a thread-pool fsync of the WAL finished
 * (`WalSync`), a different path from COMMIT to answer that must keep the same promise.
 */
const runs = [
  { sync: "normal", seeds: [1, 7, 42, 1337, 2024] },
  { sync: "full", seeds: [3, 99, 4242] }
] as const

for (const { seeds, sync } of runs) {
  describe(`A1: kill -9 during a burst of acknowledged sends (real hub process, Bun, RELAY_SYNC=${sync})`, () => {
    for (const seed of seeds) {
      it(`seed ${seed}: every acknowledged message survives, in order, nothing extra but the in-flight ones`, async () => {
        const random = prng(seed)
        const total = 440 // under both 500-message caps, so nothing is evicted
        const plan: Array<Sent> = Array.from({ length: total }, (_, i) => {
          const kind = random() < 0.5 ? "direct" : "group"
          return { kind, text: `${kind[0]}${i}`, reqId: `b${i}` }
        })
        const killAt = 1 + Math.floor(random() * (total - 1))
        const killDelayMs = Math.floor(random() * 3)

        let hub = use.hub(await startProcessHub({ env: { RELAY_SYNC: sync } }))
        const alice = await use.peer(hub, "alice")
        expect(await alice.request({ type: "group_create", name: "crew", members: ["bob"] })).toMatchObject({ type: "group_created" })
        const first = hub
        const { written, answers } = await burstUntilKilled(alice, plan, { window: 64, killAt, killDelayMs, kill: () => first.child.kill("SIGKILL") })
        expect(await first.exited).toBe(null)
        expect(first.child.signalCode).toBe("SIGKILL")

        const acked = plan.filter((s) => answers.has(s.reqId))
        for (const sent of acked) expect(answers.get(sent.reqId)!.type, JSON.stringify(answers.get(sent.reqId))).toMatch(/^(send_ack|group_ack)$/)
        // Answers come in request order, so what was acknowledged is a prefix of the plan.
        expect(acked).toEqual(plan.slice(0, acked.length))
        expect(written).toBeGreaterThanOrEqual(killAt)

        hub = use.hub(await startProcessHub({ dataDir: first.dataDir, env: { RELAY_SYNC: sync } }))
        const bob = await use.peer(hub, "bob")
        const direct = (await drainInbox(bob)).messages
        const history = await bob.request({ type: "group_history", group: "crew" })
        expect(history.type).toBe("group_messages")
        const group = history.messages.filter((m: any) => m.type === "message")

        for (const [kind, stored, idOf] of [
          ["direct", direct, (m: Frame) => m.msg_id],
          ["group", group, (m: Frame) => m.id]
        ] as const) {
          const sentOfKind = plan.slice(0, written).filter((s) => s.kind === kind)
          const ackedOfKind = acked.filter((s) => s.kind === kind)
          // Stored = a prefix of what was sent, in send order: nothing reordered, duplicated or invented.
          expect(stored.map((m: Frame) => m.text), kind).toEqual(sentOfKind.slice(0, stored.length).map((s) => s.text))
          // Every acknowledged message is there, under the id its ack gave.
          expect(stored.length, kind).toBeGreaterThanOrEqual(ackedOfKind.length)
          expect(stored.slice(0, ackedOfKind.length).map(idOf), kind).toEqual(ackedOfKind.map((s) => answers.get(s.reqId)!.msg_id))
          // Beyond those, only sends whose ack was in flight (written, unanswered).
          expect(stored.length, kind).toBeLessThanOrEqual(sentOfKind.length)
        }

        // The restarted hub goes on from there: new ids, appended after the recovered ones.
        const alice2 = await use.peer(hub, "alice")
        const after = await alice2.request({ type: "send", to: "bob", text: "after restart" })
        expect(after.status).toBe("delivered")
        expect(direct.map((m) => m.msg_id)).not.toContain(after.msg_id)
      })
    }
  })
}

describe("A9: a write the store refuses is an error, not an ack; the hub stays up", () => {
  it("sends past the store's message cap answer mailbox_error in order, are not pushed, and later reads work", async () => {
    const hub = use.hub(await startInProcessHub({ maxStoredMessages: 10 }))
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    await alice.request({ type: "group_create", name: "team", members: ["bob"] }) // its notice is stored: 1
    expect((await alice.request({ type: "group_send", group: "team", text: "g1" })).type).toBe("group_ack") // 2

    const answers = await pipeline(alice, Array.from({ length: 12 }, (_, i) => ({ type: "send", to: "bob", text: `d${i}` })), "s")
    expect(answers.map((a) => a.type)).toEqual([...Array(8).fill("send_ack"), ...Array(4).fill("err")])
    answers.slice(8).forEach((a, i) => {
      expect(a).toMatchObject({ code: "mailbox_error", req_id: `s${8 + i}`, message: expect.stringContaining("not stored") })
    })
    const groupRefused = await alice.request({ type: "group_send", group: "team", text: "g2" })
    expect(groupRefused).toMatchObject({ type: "err", code: "mailbox_error" })

    // Still up, and what was acknowledged is exactly what is stored and pushed.
    await settle(alice)
    await settle(bob)
    expect(pushesSince(bob, "incoming_message").map((f) => f.text)).toEqual(answers.slice(0, 8).map((_, i) => `d${i}`))
    const carol = await use.peer(hub, "carol")
    expect(await carol.request({ type: "send", to: "bob", text: "still full" })).toMatchObject({ type: "err", code: "mailbox_error" })
    const texts = (await bob.request({ type: "group_history", group: "team" })).messages.map((m: any) => m.text)
    expect(texts.filter((t: string) => t.startsWith("g"))).toEqual(["g1"])
    expect((await drainInbox(bob)).messages).toEqual([]) // all were pushed live to a v5 session
  })

  it("membership changes on a full store still happen and say so: their notices are pushed live, not stored", async () => {
    const hub = use.hub(await startInProcessHub({ maxStoredMessages: 1 }))
    const alice = await use.peer(hub, "alice")
    const bob = await use.peer(hub, "bob")
    expect((await alice.request({ type: "send", to: "carol", text: "fills the store" })).type).toBe("send_ack")

    expect(await alice.request({ type: "group_create", name: "team", members: ["bob"] })).toMatchObject({ type: "group_created", group: "team" })
    expect(await alice.request({ type: "group_invite", group: "team", peer: "carol" })).toMatchObject({ type: "group_ack" })
    const notice = await bob.waitFor((f) => f.type === "incoming_group_msg" && f.kind === "system" && f.text.includes("carol was invited"))
    expect(notice).toMatchObject({ group: "team", from: "relay", msg_id: expect.any(String) })
    expect(await alice.request({ type: "group_transfer", group: "team", peer: "bob" })).toMatchObject({ type: "group_ack" })
    const info = await bob.request({ type: "group_info", group: "team" })
    expect(info.admin).toBe("bob")
    expect(info.members.map((m: any) => m.name)).toEqual(["alice", "bob", "carol"])
    // Messages proper are still refused with an error, not acknowledged.
    expect(await bob.request({ type: "group_send", group: "team", text: "hi" })).toMatchObject({ type: "err", code: "mailbox_error" })
    expect((await bob.request({ type: "group_history", group: "team" })).messages).toEqual([])
  })
})
