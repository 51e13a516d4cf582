/**
 * A connection's answers leave in request order whatever order the later ones are filled in, each
 * as soon as everything before it has gone, and the session can wait for room.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, FastCheck as fc } from "effect"
import { Answers } from "../../src/hub/Answers.ts"

/** A request answered now (maybe with no answer, like `pong`) or later, filled at some point. */
const request = fc.oneof(
  fc.record({ kind: fc.constant("now" as const), silent: fc.boolean() }),
  fc.record({ kind: fc.constant("later" as const), silent: fc.boolean(), fillAfter: fc.nat({ max: 30 }) })
)

describe("Answers", () => {
  it("writes answers in request order, each once everything before it is written", () => {
    fc.assert(
      fc.property(fc.array(request, { maxLength: 200 }), fc.array(fc.nat(), { maxLength: 200 }), (requests, shuffle) => {
        const written: Array<string> = []
        const answers = new Answers((line) => written.push(line), 1024)
        const holds: Array<{ readonly index: number; readonly fill: () => void; readonly due: number }> = []
        const expected: Array<string> = []
        const filled = new Set<number>()
        requests.forEach((req, index) => {
          const line = req.silent ? undefined : `a${index}`
          if (line !== undefined) expected.push(line)
          if (req.kind === "now") {
            answers.now(line)
            filled.add(index)
          } else {
            const fill = answers.hold()
            holds.push({ index, due: index + req.fillAfter, fill: () => fill(line) })
          }
          // Fill the due holds, in an order the shuffle picks.
          const due = holds.filter((h) => h.due <= index)
          due.sort((a, b) => (shuffle[a.index % (shuffle.length || 1)] ?? 0) - (shuffle[b.index % (shuffle.length || 1)] ?? 0))
          for (const h of due) {
            h.fill()
            filled.add(h.index)
            holds.splice(holds.indexOf(h), 1)
          }
          // Written so far: exactly the answers of the longest fully-filled prefix of requests.
          let prefix = 0
          while (prefix < requests.length && prefix <= index && filled.has(prefix)) prefix++
          const prefixLines = requests.slice(0, prefix).flatMap((r, i) => (r.silent ? [] : [`a${i}`]))
          expect(written).toEqual(prefixLines)
          expect(answers.outstanding).toBe(index + 1 - prefix)
        })
        for (const h of holds) h.fill()
        expect(written).toEqual(expected)
        expect(answers.outstanding).toBe(0)
      })
    )
  })

  it("a place is filled once: a second fill changes nothing", () => {
    const written: Array<string> = []
    const answers = new Answers((line) => written.push(line), 8)
    const fill = answers.hold()
    answers.now("second")
    fill("first")
    fill("again")
    expect(written).toEqual(["first", "second"])
  })

  it.effect("whenAtMost waits until enough answers have gone out", () =>
    Effect.gen(function* () {
      const answers = new Answers(() => {}, 2)
      const fills = [answers.hold(), answers.hold(), answers.hold()]
      const waiting = yield* Effect.fork(answers.whenAtMost(1))
      yield* Effect.yieldNow()
      expect(waiting.unsafePoll()).toBeNull()
      fills[1]!("b") // behind an unfilled place: still 3 outstanding
      yield* Effect.yieldNow()
      expect(waiting.unsafePoll()).toBeNull()
      fills[0]!("a") // a and b go: 1 outstanding
      yield* Fiber.join(waiting)
      expect(answers.outstanding).toBe(1)
    })
  )
})
