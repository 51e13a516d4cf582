/**
 * The questions a broadcast left open, so that each recipient's `reply` finds its way back to the
 * broadcaster. Bounded in time (`askTtl`) and in count (`maxOpenAsks`): a broadcast that would pass
 * the count is refused up front rather than silently forgetting older asks.
 *
 * Asks are inserted in expiry order (the TTL is fixed), so expired ones are always at the front of
 * the map and pruning is cheap.
 */
import { Clock, Context, Duration, Effect, Layer } from "effect"
import { type RequestError, requestError } from "../protocol/ErrorCode.ts"
import { HubConfig } from "./HubConfig.ts"
import type { Peer } from "./Peer.ts"

export interface OpenAsk {
  readonly askId: string
  readonly broadcastId: string
  /** The broadcaster as it was: the same peer if still connected, else whoever holds its name. */
  readonly asker: Peer
  readonly askerName: string
  readonly recipient: Peer
  readonly expiresAt: number
}

export class OpenAsks extends Context.Tag("relay/OpenAsks")<
  OpenAsks,
  {
    /** Records one ask per recipient, all or none. */
    readonly open: (
      broadcastId: string,
      asker: Peer,
      recipients: ReadonlyArray<Peer>
    ) => Effect.Effect<ReadonlyArray<OpenAsk>, RequestError>
    /** The ask if it is open and `replier` is its recipient. */
    readonly find: (askId: string, replier: Peer) => Effect.Effect<OpenAsk | undefined>
    readonly size: () => number
  }
>() {}

export const askIdOf = (broadcastId: string, recipientName: string) => `${broadcastId}:${recipientName}`

export const make = Effect.gen(function* () {
  const config = yield* HubConfig
  const ttl = Duration.toMillis(config.askTtl)
  const asks = new Map<string, OpenAsk>()

  const prune = (now: number) => {
    for (const [id, ask] of asks) {
      if (ask.expiresAt > now) break
      asks.delete(id)
    }
  }

  return OpenAsks.of({
    open: Effect.fn("OpenAsks.open")(function* (broadcastId: string, asker: Peer, recipients: ReadonlyArray<Peer>) {
      const now = yield* Clock.currentTimeMillis
      prune(now)
      // Another session's open question with this id would be overwritten, and its replies would
      // come to this asker: the id is taken until those questions expire.
      for (const recipient of recipients) {
        const open = asks.get(askIdOf(broadcastId, recipient.name))
        if (open !== undefined && open.asker !== asker && open.askerName !== asker.name) {
          return yield* requestError(
            "bad_args",
            `broadcast_id '${broadcastId.slice(0, 64)}' is in use by another session's open question; use a fresh id (a UUID)`
          )
        }
      }
      if (asks.size + recipients.length > config.maxOpenAsks) {
        return yield* requestError(
          "bad_args",
          `too many open broadcast questions (cap ${config.maxOpenAsks}); wait for replies or for older ones to expire (${Duration.format(config.askTtl)})`
        )
      }
      const opened = recipients.map((recipient) => {
        const ask: OpenAsk = {
          askId: askIdOf(broadcastId, recipient.name),
          broadcastId,
          asker,
          askerName: asker.name,
          recipient,
          expiresAt: now + ttl
        }
        // Re-insert so a reused id moves to the back, keeping expiry order.
        asks.delete(ask.askId)
        asks.set(ask.askId, ask)
        return ask
      })
      return opened
    }),
    find: (askId, replier) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        prune(now)
        const ask = asks.get(askId)
        if (ask === undefined) return undefined
        // The recipient may have renamed since; identity is the peer, or its name after a reconnect.
        return ask.recipient === replier || ask.askId === askIdOf(ask.broadcastId, replier.name) ? ask : undefined
      }),
    size: () => asks.size
  })
})

export const layer = Layer.effect(OpenAsks, make)
