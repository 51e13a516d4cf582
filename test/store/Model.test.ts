import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { makeSqlite } from "../../src/store/SqliteStore.ts"
import type { DeliveryState, StoreShape } from "../../src/store/Store.ts"
import { at } from "./helpers.ts"

/** The simplest thing that could be a mailbox: an array in append order. */
interface ModelMessage {
  seq: number
  from: string
  to: string
  text: string
  clientId: string | undefined
  state: DeliveryState
}

const peers = ["A", "B", "C", "D"] as const
const peer = fc.constantFrom(...peers)
const cap = 4

type Op =
  | { readonly op: "append"; readonly from: string; readonly to: string; readonly clientId: string | undefined }
  | { readonly op: "markDelivered" | "markRead"; readonly recipient: string; readonly picks: ReadonlyArray<number> }
  | { readonly op: "unread"; readonly recipient: string; readonly limit: number; readonly since: number | undefined }
  | { readonly op: "rename"; readonly from: string; readonly to: string }
  | { readonly op: "takeDropped"; readonly recipient: string }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("append" as const),
      from: peer,
      to: peer,
      clientId: fc.option(fc.constantFrom("k1", "k2", "k3"), { nil: undefined })
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constantFrom("markDelivered" as const, "markRead" as const),
      recipient: peer,
      picks: fc.array(fc.nat(60), { maxLength: 4 })
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("unread" as const),
      recipient: peer,
      limit: fc.integer({ min: 1, max: 6 }),
      since: fc.option(fc.nat(60), { nil: undefined })
    })
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("rename" as const), from: peer, to: peer }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("takeDropped" as const), recipient: peer }) }
)

const run = (store: StoreShape, ops: ReadonlyArray<Op>) =>
  Effect.gen(function* () {
    let messages: Array<ModelMessage> = []
    const dropped = new Map<string, number>()
    const idOfSeq = new Map<number, string>()
    let nextSeq = 1
    let text = 0
    const addDropped = (name: string, n: number) => dropped.set(name, (dropped.get(name) ?? 0) + n)
    /** Any id we have seen (also of evicted messages), or one that is not ours. */
    const pickId = (n: number) => (n < idOfSeq.size ? idOfSeq.get(n + 1)! : `bogus-${n}`)
    const seqs = (ms: ReadonlyArray<{ readonly seq: number }>) => ms.map((m) => m.seq)

    for (const op of ops) {
      switch (op.op) {
        case "append": {
          const body = `t${text++}`
          const result = yield* store.appendDirect({
            from: op.from,
            to: op.to,
            text: body,
            replyTo: null,
            urgent: false,
            clientId: op.clientId,
            now: at(0)
          })
          const existing =
            op.clientId === undefined ? undefined : messages.find((m) => m.from === op.from && m.clientId === op.clientId)
          if (existing !== undefined) {
            expect(result).toMatchObject({ duplicate: true, evicted: 0, message: { seq: existing.seq, text: existing.text } })
            break
          }
          const seq = nextSeq++
          messages.push({ seq, from: op.from, to: op.to, text: body, clientId: op.clientId, state: "queued" })
          const mailbox = messages.filter((m) => m.to === op.to)
          const out = mailbox.slice(0, Math.max(0, mailbox.length - cap))
          const evicted = out.filter((m) => m.state === "queued").length
          messages = messages.filter((m) => !out.includes(m))
          addDropped(op.to, evicted)
          expect(result).toMatchObject({ duplicate: false, evicted, message: { seq, text: body, state: "queued" } })
          expect(idOfSeq.has(seq)).toBe(false)
          idOfSeq.set(seq, result.message.id)
          break
        }
        case "markDelivered":
        case "markRead": {
          const ids = op.picks.map(pickId)
          const from: ReadonlyArray<DeliveryState> = op.op === "markDelivered" ? ["queued"] : ["queued", "delivered"]
          const changed = messages.filter(
            (m) => m.to === op.recipient && from.includes(m.state) && ids.includes(idOfSeq.get(m.seq)!)
          )
          for (const m of changed) m.state = op.op === "markDelivered" ? "delivered" : "read"
          const result = yield* (op.op === "markDelivered" ? store.markDelivered : store.markRead)(op.recipient, ids)
          expect(seqs(result)).toEqual(seqs(changed))
          break
        }
        case "unread": {
          const sinceId = op.since === undefined ? undefined : pickId(op.since)
          const after = sinceId === undefined || sinceId.startsWith("bogus") ? 0 : op.since! + 1
          const queued = messages.filter((m) => m.to === op.recipient && m.state === "queued" && m.seq > after)
          const result = yield* store.unread(op.recipient, { limit: op.limit, sinceId })
          expect({ seqs: seqs(result.messages), remaining: result.remaining }).toEqual({
            seqs: seqs(queued.slice(0, op.limit)),
            remaining: Math.max(0, queued.length - op.limit)
          })
          break
        }
        case "rename": {
          if (op.from !== op.to) {
            for (const m of messages) {
              if (m.from === op.from && messages.some((o) => o.from === op.to && o.clientId !== undefined && o.clientId === m.clientId)) {
                m.clientId = undefined
              }
            }
            for (const m of messages) {
              if (m.from === op.from) m.from = op.to
              if (m.to === op.from) m.to = op.to
            }
            addDropped(op.to, dropped.get(op.from) ?? 0)
            dropped.delete(op.from)
            const merged = messages.filter((m) => m.to === op.to)
            const out = merged.slice(0, Math.max(0, merged.length - cap))
            addDropped(op.to, out.filter((m) => m.state === "queued").length)
            messages = messages.filter((m) => !out.includes(m))
          }
          yield* store.renamePeer(op.from, op.to)
          break
        }
        case "takeDropped": {
          const expected = dropped.get(op.recipient) ?? 0
          dropped.delete(op.recipient)
          expect(yield* store.takeDropped(op.recipient)).toBe(expected)
          break
        }
      }
    }
    // The whole state at the end, not just what the operations happened to look at.
    for (const name of peers) {
      const all = (yield* store.unread(name, { limit: 500 })).messages
      expect(all.map((m) => [m.seq, m.from, m.text])).toEqual(
        messages.filter((m) => m.to === name && m.state === "queued").map((m) => [m.seq, m.from, m.text])
      )
      expect(yield* store.takeDropped(name)).toBe(dropped.get(name) ?? 0)
    }
    expect((yield* store.stats).directMessages).toBe(messages.length)
    for (const m of messages) {
      const stored = yield* store.getMessage(idOfSeq.get(m.seq)!)
      expect(stored._tag === "Some" ? [stored.value.to, stored.value.state] : undefined).toEqual([m.to, m.state])
    }
  })

describe("Store against a model (fast-check)", () => {
  it("random appends, deliveries, reads, pages and renames agree with an in-memory model", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) =>
        Effect.runPromise(Effect.scoped(Effect.flatMap(makeSqlite({ path: ":memory:", mailboxCap: cap }), (store) => run(store, ops))))
      ),
      { numRuns: 100 }
    )
  })
})
