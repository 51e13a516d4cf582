/**
 * One connection's answers, written in request order.
 *
 * A request answered now is written at once if nothing before it is still waiting; a request that
 * finishes later (a send waiting for its commit) holds a place, and the answers behind it wait
 * there until it is filled. The session reads on meanwhile, up to `capacity` places outstanding.
 *
 * Plain objects and callbacks, not a queue of effects and a fiber to run them: this is on the path
 * of every request.
 */
import { Effect } from "effect"

interface Place {
  line: string | undefined
  filled: boolean
}

export class Answers {
  /** Places not yet written, oldest first, from `head`. */
  private places: Array<Place> = []
  private head = 0
  private waiter: { readonly atMost: number; readonly resume: () => void } | undefined

  constructor(
    private readonly write: (line: string) => void,
    readonly capacity: number
  ) {}

  /** Places held and not yet written. */
  get outstanding(): number {
    return this.places.length - this.head
  }

  /** An answer known now (`undefined`: the request has none, e.g. `pong`). */
  now(line: string | undefined): void {
    if (this.outstanding === 0) {
      if (line !== undefined) this.write(line)
      return
    }
    this.places.push({ line, filled: true })
  }

  /** Holds the next place; the returned function fills it (the first call counts). */
  hold(): (line: string | undefined) => void {
    const place: Place = { line: undefined, filled: false }
    this.places.push(place)
    return (line) => {
      if (place.filled) return
      place.filled = true
      place.line = line
      this.writeReady()
    }
  }

  /** Waits until at most `atMost` places are outstanding. */
  whenAtMost(atMost: number): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (this.outstanding <= atMost) return resume(Effect.void)
      this.waiter = { atMost, resume: () => resume(Effect.void) }
      return Effect.sync(() => {
        this.waiter = undefined
      })
    })
  }

  private writeReady(): void {
    const places = this.places
    let head = this.head
    while (head < places.length && places[head]!.filled) {
      const line = places[head]!.line
      if (line !== undefined) this.write(line)
      head++
    }
    if (head === places.length) {
      this.places = []
      this.head = 0
    } else if (head > 1024 && head * 2 > places.length) {
      this.places = places.slice(head)
      this.head = 0
    } else {
      this.head = head
    }
    const waiter = this.waiter
    if (waiter !== undefined && this.outstanding <= waiter.atMost) {
      this.waiter = undefined
      waiter.resume()
    }
  }
}
