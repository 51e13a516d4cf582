import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import fc from "fast-check"
import { makeSqlite } from "../../src/store/SqliteStore.ts"
import type { AppendDirectResult, DeliveryState, StoreError, StoreFull, StoreShape } from "../../src/store/Store.ts"
import { at } from "./helpers.ts"

/** The simplest thing that could be a mailbox: an array in append order. */
interface ModelMessage {
  seq: number
  from: string
  to: string
  text: string
  clientId: string | undefined
  state: DeliveryState
  /** Seconds after the base instant. */
  time: number
}

const peers = ["A", "B", "C", "D"] as const
const peer = fc.constantFrom(...peers)
const cap = 4
/** Below 4 full mailboxes, so appends that evict nothing meet it. */
const maxMessages = 11
const retentionSeconds = 6
/** Larger than the file may grow: such an append fails with SQLITE_FULL and rolls back. */
const maxDbBytes = 256 * 1024
const hugeText = "h".repeat(300 * 1024)

interface AppendOp {
  readonly from: string
  readonly to: string
  readonly clientId: string | undefined
  readonly delivered: boolean
  readonly huge: boolean
}

type Op =
  | { readonly op: "append"; readonly append: AppendOp }
  | { readonly op: "appendMany"; readonly appends: ReadonlyArray<AppendOp> }
  | { readonly op: "markDelivered" | "markRead" | "requeue"; readonly recipient: string; readonly picks: ReadonlyArray<number> }
  | { readonly op: "unread"; readonly recipient: string; readonly limit: number; readonly since: number | undefined }
  | { readonly op: "rename"; readonly from: string; readonly to: string }
  | { readonly op: "takeDropped"; readonly recipient: string }
  | { readonly op: "prune"; readonly advance: number }

const appendArb: fc.Arbitrary<AppendOp> = fc.record({
  from: peer,
  to: peer,
  clientId: fc.option(fc.constantFrom("k1", "k2", "k3"), { nil: undefined }),
  delivered: fc.boolean(),
  huge: fc.nat(30).map((n) => n === 0)
})

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant("append" as const), append: appendArb }) },
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant("appendMany" as const), appends: fc.array(appendArb, { minLength: 1, maxLength: 12 }) })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constantFrom("markDelivered" as const, "markRead" as const, "requeue" as const),
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
  { weight: 1, arbitrary: fc.record({ op: fc.constant("takeDropped" as const), recipient: peer }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("prune" as const), advance: fc.integer({ min: 0, max: 12 }) }) }
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

    let clock = 0

    /** What appending `a` does to the model, one append after another; what the store must answer. */
    const modelAppend = (a: AppendOp, body: string) => {
      const existing =
        a.clientId === undefined ? undefined : messages.find((m) => m.from === a.from && m.clientId === a.clientId)
      if (existing !== undefined) return { seq: existing.seq, text: existing.text, duplicate: true, evicted: 0 }
      const mailbox = messages.filter((m) => m.to === a.to)
      if (mailbox.length < cap && messages.length >= maxMessages) return { error: "StoreFull" }
      // Only an append that writes can fail to write.
      if (a.huge) return { error: "SQLITE_FULL" }
      const seq = nextSeq++
      const state: DeliveryState = a.delivered ? "delivered" : "queued"
      messages.push({ seq, from: a.from, to: a.to, text: body, clientId: a.clientId, state, time: clock })
      const out = mailbox.slice(0, Math.max(0, mailbox.length + 1 - cap))
      const evicted = out.filter((m) => m.state === "queued").length
      messages = messages.filter((m) => !out.includes(m))
      addDropped(a.to, evicted)
      return { seq, text: body, duplicate: false, evicted }
    }
    const input = (a: AppendOp, body: string) => ({
      from: a.from,
      to: a.to,
      text: a.huge ? hugeText : body,
      replyTo: null,
      urgent: false,
      clientId: a.clientId,
      initialState: a.delivered ? ("delivered" as const) : undefined,
      now: at(clock)
    })
    const outcome = (r: Either.Either<AppendDirectResult, StoreError | StoreFull>) => {
      if (Either.isLeft(r)) return { error: r.left._tag === "StoreError" ? r.left.code : r.left._tag }
      const { message, duplicate, evicted } = r.right
      if (!duplicate) {
        expect(idOfSeq.has(message.seq)).toBe(false)
        idOfSeq.set(message.seq, message.id)
      }
      return { seq: message.seq, text: message.text, duplicate, evicted }
    }

    for (const op of ops) {
      switch (op.op) {
        case "append":
        case "appendMany": {
          const appends = op.op === "append" ? [op.append] : op.appends
          const bodies = appends.map(() => `t${text++}`)
          const results =
            op.op === "append"
              ? [yield* Effect.either(store.appendDirect(input(op.append, bodies[0]!)))]
              : yield* store.appendDirectMany(appends.map((a, i) => input(a, bodies[i]!)))
          const expected = appends.map((a, i) => modelAppend(a, bodies[i]!))
          expect(results.map(outcome)).toEqual(expected)
          break
        }
        case "markDelivered":
        case "markRead":
        case "requeue": {
          const ids = op.picks.map(pickId)
          const [from, to]: [ReadonlyArray<DeliveryState>, DeliveryState] =
            op.op === "markDelivered"
              ? [["queued"], "delivered"]
              : op.op === "markRead"
                ? [["queued", "delivered"], "read"]
                : [["delivered"], "queued"]
          const changed = messages.filter(
            (m) => m.to === op.recipient && from.includes(m.state) && ids.includes(idOfSeq.get(m.seq)!)
          )
          for (const m of changed) m.state = to
          const result = yield* store[op.op](op.recipient, ids)
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
        case "prune": {
          clock += op.advance
          const cutoff = clock - retentionSeconds
          const expired = messages.filter((m) => m.time < cutoff)
          for (const m of expired) if (m.state === "queued") addDropped(m.to, 1)
          messages = messages.filter((m) => m.time >= cutoff)
          expect(yield* store.pruneRetention(at(clock))).toEqual({ removed: expired.length })
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
  it("random appends (alone and in bursts), deliveries, reads, pages, renames, retention and write errors agree with an in-memory model", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) =>
        Effect.runPromise(
          Effect.scoped(
            Effect.flatMap(
              makeSqlite({ path: ":memory:", mailboxCap: cap, maxMessages, maxDbBytes, retention: `${retentionSeconds} seconds` }),
              (store) => run(store, ops)
            )
          )
        )
      ),
      { numRuns: 150 }
    )
  })
})
