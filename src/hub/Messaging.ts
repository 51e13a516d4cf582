/**
 * Direct messages (mailboxes) and persistent groups, as the session handler sees them. The durable
 * implementation lives in `Mailboxes`/`Groups` over the `Store`; `layerUnavailable` is for a hub
 * embedded without a store, and says so instead of pretending.
 */
import { Context, Effect, Layer } from "effect"
import { type RequestError, requestError } from "../protocol/ErrorCode.ts"
import type { ClientFrameOf } from "../protocol/Frames.ts"
import type { Outcome } from "./Outcome.ts"
import type { Peer } from "./Peer.ts"

/** The frame types this service answers. */
type MessagingFrameType =
  | "send"
  | "inbox"
  | "deliver_ack"
  | "mark_read"
  | "msg_status"
  | "group_create"
  | "group_invite"
  | "group_remove"
  | "group_leave"
  | "group_delete"
  | "group_transfer"
  | "group_send"
  | "group_history"
  | "group_list"
  | "group_info"

type Op<K extends MessagingFrameType> = (
  peer: Peer,
  frame: ClientFrameOf<K>
) => Effect.Effect<Outcome, RequestError>

export class Messaging extends Context.Tag("relay/Messaging")<
  Messaging,
  {
    /** A peer registered: push what waited for it. */
    readonly connected: (peer: Peer) => Effect.Effect<void>
    /** A peer renamed (`peer.name` is the new name): its mailbox, groups and admin rights follow it. */
    readonly renamed: (peer: Peer, oldName: string) => Effect.Effect<void>
    /** `reply` to the id of a direct message the replier received. */
    readonly replyToMessage: (peer: Peer, msgId: string, text: string) => Effect.Effect<Outcome, RequestError>
    readonly send: Op<"send">
    readonly inbox: Op<"inbox">
    readonly deliverAck: Op<"deliver_ack">
    readonly markRead: Op<"mark_read">
    readonly status: Op<"msg_status">
    readonly groupCreate: Op<"group_create">
    readonly groupInvite: Op<"group_invite">
    readonly groupRemove: Op<"group_remove">
    readonly groupLeave: Op<"group_leave">
    readonly groupDelete: Op<"group_delete">
    readonly groupTransfer: Op<"group_transfer">
    readonly groupSend: Op<"group_send">
    readonly groupHistory: Op<"group_history">
    readonly groupList: Op<"group_list">
    readonly groupInfo: Op<"group_info">
  }
>() {}

const unavailable = () =>
  Effect.fail(
    requestError(
      "unexpected",
      "this hub runs without a message store, so direct messages and groups are off; run it with a store (the default `relay hub` has one)"
    )
  )

export const layerUnavailable = Layer.succeed(
  Messaging,
  Messaging.of({
    connected: () => Effect.void,
    renamed: () => Effect.void,
    replyToMessage: () =>
      Effect.fail(requestError("unknown_ask", "no open question or message has that id (it may have expired)")),
    send: unavailable,
    inbox: unavailable,
    deliverAck: unavailable,
    markRead: unavailable,
    status: unavailable,
    groupCreate: unavailable,
    groupInvite: unavailable,
    groupRemove: unavailable,
    groupLeave: unavailable,
    groupDelete: unavailable,
    groupTransfer: unavailable,
    groupSend: unavailable,
    groupHistory: unavailable,
    groupList: unavailable,
    groupInfo: unavailable
  })
)
