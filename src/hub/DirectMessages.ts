/**
 * Direct messages: one mailbox actor per recipient owns that recipient's mailbox. It stores what
 * is sent to it (a burst in one write, so group commit can do its work), then pushes each stored
 * message to the recipient if it is connected, in order — per sender → recipient FIFO.
 *
 * Delivery state: a message is `queued` once stored (the `send_ack` is sent only then). A push to
 * a protocol-5 session counts as delivered (those clients cannot confirm); a protocol-6 session
 * confirms with `deliver_ack`, and until it does the message stays queued and is pushed again on
 * its next connection. `inbox` and `mark_read` make messages `read`; a sender who asked for it
 * gets a `receipt` then.
 */
import { Duration, Effect, Option } from "effect"
import type { Frame } from "../protocol/Encode.ts"
import { encodeFrame } from "../protocol/Encode.ts"
import { type RequestError, requestError } from "../protocol/ErrorCode.ts"
import type { ClientFrameOf } from "../protocol/Frames.ts"
import { Limits } from "../protocol/Limits.ts"
import { type AppendDirectInput, type DirectMessage, Store, type StoreError, type StoreFull } from "../store/Store.ts"
import { HubConfig } from "./HubConfig.ts"
import * as KeyedActors from "./KeyedActors.ts"
import { later, type Outcome } from "./Outcome.ts"
import type { Peer } from "./Peer.ts"
import { Registry } from "./Registry.ts"
import { Reply } from "./Reply.ts"

type Command =
  | {
      readonly _tag: "Append"
      readonly input: AppendDirectInput
      /** Answered with the `send_ack` once the message is stored (and pushed, if it could be). */
      readonly reply: Reply<Frame, RequestError>
    }
  | { readonly _tag: "Flush"; readonly peer: Peer }

/** The store failed: the message was not accepted, so say so and how to go on. */
export const storeFailure = (error: StoreError | StoreFull) =>
  requestError(
    "mailbox_error",
    error._tag === "StoreFull"
      ? `${error.message} (the message was not stored)`
      : `the hub could not store the message (${error.message}); it was not sent — try again`
  )

/** A message as `inbox` lists it; `urgent` only when true. */
const inboxEntry = (message: DirectMessage) => ({
  msg_id: message.id,
  from: message.from,
  text: message.text,
  reply_to: message.replyTo,
  ts: message.ts,
  ...(message.urgent ? { urgent: true } : {})
})

/** The same message pushed live. */
export const incomingMessage = (message: DirectMessage): Frame => ({ type: "incoming_message", ...inboxEntry(message) })

/**
 * What was pushed on a protocol-6 connection and not yet confirmed: a flush (on connect, after a
 * rename) skips these, so a push never repeats on one connection. Ids, not a highest seq, because a
 * rename can merge in older mail. Bounded: a client that never confirms loses only this memory.
 */
const unconfirmed = new WeakMap<Peer, Set<string>>()
const maxUnconfirmed = 1_000

export const make = Effect.gen(function* () {
  const store = yield* Store
  const registry = yield* Registry
  const config = yield* HubConfig

  /**
   * Protocol-6 sessions whose queued mail the mailbox has started to push. Until then a new message
   * waits in the store for that flush, so it cannot overtake older queued ones (per-sender FIFO).
   */
  const flushed = new WeakSet<Peer>()

  const pushesLive = (peer: Peer) => peer.protocolVersion === "5" || flushed.has(peer)

  /** Pushes one stored message to its recipient if connected and not already pushed there. */
  const push = (peer: Peer, message: DirectMessage, line: string): boolean => {
    if (peer.protocolVersion === "5") return peer.sendLine(line)
    let pushed = unconfirmed.get(peer)
    if (pushed === undefined) {
      pushed = new Set()
      unconfirmed.set(peer, pushed)
    }
    if (pushed.has(message.id)) return true
    if (!peer.sendLine(line)) return false
    pushed.add(message.id)
    if (pushed.size > maxUnconfirmed) pushed.delete(pushed.values().next().value!)
    return true
  }

  /** Protocol-5 sessions cannot confirm a push: it counts as delivered when it is written. */
  const cannotConfirm = (peer: Peer | undefined): peer is Peer =>
    peer !== undefined && peer.protocolVersion === "5" && peer.isOpen()

  const appendBurst = (recipient: string, appends: ReadonlyArray<Extract<Command, { _tag: "Append" }>>) =>
    Effect.gen(function* () {
      // Stored as delivered up front when they are about to be pushed to a protocol-5 session:
      // one write per burst instead of two. A push that then fails puts them back to queued.
      const before = registry.lookup(recipient)
      const deliverOnWrite = cannotConfirm(before)
      const results = yield* store.appendDirectMany(
        appends.map((command) => (deliverOnWrite ? { ...command.input, initialState: "delivered" as const } : command.input))
      )
      const peer = registry.lookup(recipient)
      const notPushed: Array<string> = []
      // Pushed to a protocol-5 session that registered while the burst was being written.
      const deliveredLate: Array<string> = []
      // Answered once the store says what the acks say (no extra write in the common case).
      const answers: Array<() => void> = []
      for (let i = 0; i < appends.length; i++) {
        const command = appends[i]!
        const result = results[i]!
        if (result._tag === "Left") {
          const failure = storeFailure(result.left)
          answers.push(() => command.reply.fail(failure))
          continue
        }
        const { message, duplicate } = result.right
        let pushed = false
        if (peer !== undefined && !duplicate && pushesLive(peer)) pushed = push(peer, message, encodeFrame(incomingMessage(message)))
        if (!duplicate) {
          // Whichever protocol-5 session took the push (the one seen before the write or a newer
          // one), the message is delivered; otherwise the store must say queued.
          const delivered = pushed && cannotConfirm(peer)
          if (deliverOnWrite && !delivered) notPushed.push(message.id)
          if (!deliverOnWrite && delivered) deliveredLate.push(message.id)
        }
        const ack: Frame = {
          type: "send_ack",
          msg_id: message.id,
          status: duplicate ? message.state : pushed ? "delivered" : "queued",
          ...(duplicate ? { duplicate: true } : {})
        }
        answers.push(() => command.reply.succeed(ack))
      }
      if (notPushed.length > 0) {
        yield* store.requeue(recipient, notPushed).pipe(
          Effect.catchAll((error) => Effect.logError("could not put unpushed messages back in the mailbox", { recipient, error: error.message }))
        )
      }
      if (deliveredLate.length > 0) {
        yield* store.markDelivered(recipient, deliveredLate).pipe(
          Effect.catchAll((error) => Effect.logError("could not record pushed messages as delivered", { recipient, error: error.message }))
        )
      }
      for (const answer of answers) answer()
    })

  /** A protocol-6 session that connects gets what waited for it, then word of anything dropped. */
  const flush = (peer: Peer) =>
    Effect.gen(function* () {
      if (peer.protocolVersion !== "6" || !peer.isOpen()) return
      flushed.add(peer)
      let sinceId: string | undefined
      for (;;) {
        const page = yield* store.unread(peer.name, { limit: Limits.inboxMaxLimit, sinceId })
        for (const message of page.messages) {
          if (!push(peer, message, encodeFrame(incomingMessage(message)))) return
        }
        if (page.remaining === 0 || page.messages.length === 0) break
        sinceId = page.messages[page.messages.length - 1]!.id
      }
      const dropped = yield* store.takeDropped(peer.name)
      if (dropped > 0) {
        peer.send({
          type: "mailbox_notice",
          dropped,
          message: `${dropped} older unread message${dropped === 1 ? " was" : "s were"} dropped: a mailbox keeps the newest ${config.mailboxCap}`
        })
      }
    }).pipe(Effect.catchAll((error) => Effect.logWarning("could not push queued messages", { peer: peer.name, error: error.message })))

  const mailboxes = yield* KeyedActors.make<Command>({
    name: "mailbox",
    idleAfter: Duration.seconds(30),
    maxBatch: 256,
    // Consecutive appends go to the store together; a flush keeps its place in the order.
    receive: (recipient, batch) =>
      KeyedActors.inRuns(
        batch,
        (command): command is Extract<Command, { _tag: "Append" }> => command._tag === "Append",
        (run) => appendBurst(recipient, run),
        (command) => flush(command.peer)
      )
  })

  /** `to` without this hub's own suffix; a name on another hub fails until federation links exist. */
  const localRecipient = (to: string): string | RequestError => {
    const at = to.indexOf("@")
    if (at === -1) return to
    const hub = to.slice(at + 1)
    if (hub === config.hubId) return to.slice(0, at)
    return requestError(
      "peer_not_found",
      `'${to}' is on hub '${hub}', and this hub has no federation link to it; check \`relay status\` for linked hubs`
    )
  }

  /**
   * Queues the message in the recipient's mailbox now, while the session reads on (the next
   * pipelined send joins the same batch, hence the same commit); the ack follows the commit.
   */
  const sendText = (
    from: Peer,
    to: string,
    text: string,
    options: { replyTo: string | null; urgent: boolean; clientId?: string | undefined; notifyRead?: boolean | undefined }
  ): Effect.Effect<Outcome, RequestError> =>
    Effect.suspend(() => {
      const recipient = localRecipient(to)
      if (typeof recipient !== "string") return Effect.fail(recipient)
      const reply = new Reply<Frame, RequestError>()
      mailboxes.post(recipient, { _tag: "Append", input: { from: from.name, to: recipient, text, now: new Date(), ...options }, reply })
      return Effect.succeed(later(reply))
    })

  const sendReceipts = (messages: ReadonlyArray<DirectMessage>) => {
    for (const message of messages) {
      if (!message.notifyRead) continue
      registry.lookup(message.from)?.send({ type: "receipt", msg_id: message.id, to: message.to, state: message.state })
    }
  }

  return {
    connected: (peer: Peer) => mailboxes.tell(peer.name, { _tag: "Flush", peer }),

    send: (peer: Peer, frame: ClientFrameOf<"send">): Effect.Effect<Outcome, RequestError> =>
      sendText(peer, frame.to, frame.text, {
        replyTo: frame.reply_to ?? null,
        urgent: frame.urgent === true,
        clientId: frame.client_id,
        notifyRead: frame.notify_read
      }),

    replyToMessage: (peer: Peer, msgId: string, text: string): Effect.Effect<Outcome, RequestError> =>
      Effect.gen(function* () {
        const original = yield* store.getMessage(msgId).pipe(Effect.mapError(storeFailure))
        if (Option.isNone(original) || original.value.to !== peer.name) {
          return yield* requestError(
            "unknown_ask",
            `no open question or message you received has the id '${msgId.slice(0, 80)}' (broadcast questions expire after ${Duration.format(config.askTtl)})`
          )
        }
        return yield* sendText(peer, original.value.from, text, { replyTo: msgId, urgent: false })
      }),

    inbox: (peer: Peer, frame: ClientFrameOf<"inbox">): Effect.Effect<Outcome, RequestError> =>
      Effect.gen(function* () {
        const page = yield* store
          .unread(peer.name, { limit: frame.limit ?? Limits.inboxDefaultLimit, sinceId: frame.since_id })
          .pipe(Effect.mapError(storeFailure))
        const read = yield* store.markRead(peer.name, page.messages.map((m) => m.id)).pipe(Effect.mapError(storeFailure))
        sendReceipts(read)
        const dropped = yield* store.takeDropped(peer.name).pipe(Effect.mapError(storeFailure))
        return {
          type: "inbox_result",
          messages: page.messages.map(inboxEntry),
          remaining: page.remaining,
          ...(dropped > 0 ? { dropped } : {})
        }
      }),

    deliverAck: (peer: Peer, frame: ClientFrameOf<"deliver_ack">): Effect.Effect<Outcome, RequestError> =>
      store.markDelivered(peer.name, frame.msg_ids).pipe(
        Effect.tap(() =>
          Effect.sync(() => {
            const pushed = unconfirmed.get(peer)
            if (pushed !== undefined) for (const id of frame.msg_ids) pushed.delete(id)
          })
        ),
        Effect.mapError(storeFailure),
        Effect.map((changed) => ({ type: "ack", confirmed: changed.length }))
      ),

    markRead: (peer: Peer, frame: ClientFrameOf<"mark_read">): Effect.Effect<Outcome, RequestError> =>
      store.markRead(peer.name, frame.msg_ids).pipe(
        Effect.mapError(storeFailure),
        Effect.tap((changed) => Effect.sync(() => sendReceipts(changed))),
        Effect.map((changed) => ({ type: "ack", read: changed.length }))
      ),

    status: (peer: Peer, frame: ClientFrameOf<"msg_status">): Effect.Effect<Outcome, RequestError> =>
      Effect.gen(function* () {
        const found = yield* store.getMessage(frame.msg_id).pipe(Effect.mapError(storeFailure))
        if (Option.isNone(found) || (found.value.from !== peer.name && found.value.to !== peer.name)) {
          return yield* requestError(
            "bad_args",
            `no message you sent or received has the id '${frame.msg_id.slice(0, 80)}' (a mailbox keeps the newest ${config.mailboxCap})`
          )
        }
        const message = found.value
        return { type: "msg_status_result", msg_id: message.id, from: message.from, to: message.to, state: message.state, ts: message.ts }
      }),

    renamed: (peer: Peer, oldName: string) =>
      store.renamePeer(oldName, peer.name).pipe(
        // Mail that waited under the new name is this session's now.
        Effect.zipRight(mailboxes.tell(peer.name, { _tag: "Flush", peer })),
        Effect.catchAll((error) =>
          Effect.logError("rename could not move the mailbox and groups", { from: oldName, to: peer.name, error: error.message })
        )
      )
  }
})
