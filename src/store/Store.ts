/**
 * The durable store of direct messages (one mailbox per recipient) and persistent groups. Every
 * write resolves only after its transaction committed (see `docs/store.md` for what that means on
 * power loss). Implementations: `layerSqlite` / `layerMemory` in `SqliteStore.ts`.
 */
import { Context, Data, type Effect, type Either, type Option } from "effect"

export type DeliveryState = "queued" | "delivered" | "read"

export interface DirectMessage {
  /** Opaque, unique across store files (carries a per-file random epoch). */
  readonly id: string
  /** Global append order; per sender → recipient FIFO follows from it. */
  readonly seq: number
  readonly from: string
  readonly to: string
  readonly text: string
  readonly replyTo: string | null
  readonly urgent: boolean
  /** ISO-8601. */
  readonly ts: string
  readonly state: DeliveryState
  /** The sender asked for a read receipt. */
  readonly notifyRead: boolean
}

export interface AppendDirectInput {
  readonly from: string
  readonly to: string
  readonly text: string
  readonly replyTo: string | null
  readonly urgent: boolean
  /** Idempotency key: the same (from, clientId) is stored once while that message is retained. */
  readonly clientId?: string | undefined
  readonly notifyRead?: boolean | undefined
  /**
   * `delivered` when the caller will push it to a connected session that cannot confirm pushes
   * (protocol 5): saves a second write per message. Default `queued`.
   */
  readonly initialState?: "queued" | "delivered" | undefined
  readonly now: Date
}

export interface AppendDirectResult {
  readonly message: DirectMessage
  /** The (from, clientId) pair was already stored; `message` is the stored one. */
  readonly duplicate: boolean
  /** Still-queued messages of the recipient this append pushed out of the mailbox. */
  readonly evicted: number
}

export interface GroupMember {
  readonly name: string
  /** Seq of the last group message this member has read; 0 = none. */
  readonly cursor: number
  readonly joinedAt: string
}

export interface GroupRecord {
  readonly name: string
  readonly admin: string
  readonly createdAt: string
  /** In joining order. */
  readonly members: ReadonlyArray<GroupMember>
}

export interface CreateGroupInput {
  readonly name: string
  readonly admin: string
  readonly members: ReadonlyArray<string>
  readonly now: Date
}

export type GroupMessageKind = "message" | "system"

export interface GroupMessageRecord {
  /** A string id, unique across groups and store files. */
  readonly id: string
  /** Per-group order, starting at 1; cursors count in it. */
  readonly seq: number
  readonly group: string
  readonly from: string
  readonly text: string
  readonly ts: string
  readonly kind: GroupMessageKind
}

export interface AppendGroupMessageInput {
  readonly group: string
  readonly from: string
  readonly text: string
  readonly kind: GroupMessageKind
  readonly clientId?: string | undefined
  /**
   * The member who caused it and so has seen it (a system notice's actor; by default `from`): its
   * cursor moves past the message if it had read everything before.
   */
  readonly seenBy?: string | undefined
  readonly now: Date
}

export interface StoreStats {
  readonly path: string
  readonly driver: string
  readonly directMessages: number
  readonly groupMessages: number
  readonly groups: number
  readonly maxMessages: number
  /** Write transactions committed since open; with group commit, fewer than the writes. */
  readonly commits: number
  /**
   * When a commit reaches the disk, read off the live connection: `after-commit` (the WAL is
   * fsynced on the thread pool before writers are answered), `in-commit` (SQLite fsyncs inside
   * COMMIT), `at-checkpoint` (no fsync per commit: an answer survives a crash, not a power loss).
   */
  readonly fsync: "after-commit" | "in-commit" | "at-checkpoint"
  /** WAL fsyncs run after commits (`after-commit` only); fewer than commits under load. */
  readonly walSyncs: number
}

// ---------------------------------------------------------------------------------------------
// Errors. Their `message` says what happened and what the user can do about it.

/** The store could not read or write (disk full, permissions, I/O). Not a defect: the hub stays up. */
export class StoreError extends Data.TaggedError("StoreError")<{
  readonly message: string
  /** The SQLite result code when there is one, e.g. `SQLITE_FULL`. */
  readonly code?: string | undefined
  readonly cause?: unknown
}> {}

/** The total-message cap is reached; nothing was stored. */
export class StoreFull extends Data.TaggedError("StoreFull")<{
  readonly message: string
  readonly limit: number
}> {}

export class GroupExists extends Data.TaggedError("GroupExists")<{
  readonly message: string
  readonly group: string
}> {}

export class GroupNotFound extends Data.TaggedError("GroupNotFound")<{
  readonly message: string
  readonly group: string
}> {}

export class NotMember extends Data.TaggedError("NotMember")<{
  readonly message: string
  readonly group: string
  readonly member: string
}> {}

export class Store extends Context.Tag("relay/Store")<
  Store,
  {
    // --- direct messages -------------------------------------------------------------------
    readonly appendDirect: (input: AppendDirectInput) => Effect.Effect<AppendDirectResult, StoreError | StoreFull>
    /**
     * Appends in the given order, each succeeding or failing on its own (usually one commit for
     * all): how a mailbox stores a burst without giving up FIFO.
     */
    readonly appendDirectMany: (
      inputs: ReadonlyArray<AppendDirectInput>
    ) => Effect.Effect<ReadonlyArray<Either.Either<AppendDirectResult, StoreError | StoreFull>>>
    /** Queued messages of `recipient`, oldest first, after `sinceId` if given; changes nothing. */
    readonly unread: (
      recipient: string,
      options: { readonly limit: number; readonly sinceId?: string | undefined }
    ) => Effect.Effect<{ readonly messages: ReadonlyArray<DirectMessage>; readonly remaining: number }, StoreError>
    /** queued → delivered, only for `recipient`'s messages; returns those that changed. */
    readonly markDelivered: (
      recipient: string,
      ids: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlyArray<DirectMessage>, StoreError>
    /** queued | delivered → read, only for `recipient`'s messages; returns those that changed. */
    readonly markRead: (
      recipient: string,
      ids: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlyArray<DirectMessage>, StoreError>
    /** delivered → queued: a push that was counted as delivered did not go out after all. */
    readonly requeue: (recipient: string, ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<DirectMessage>, StoreError>
    readonly getMessage: (id: string) => Effect.Effect<Option.Option<DirectMessage>, StoreError>
    /** Returns and resets how many undelivered messages of `recipient` were evicted or expired. */
    readonly takeDropped: (recipient: string) => Effect.Effect<number, StoreError>
    /** Moves mailbox, sent messages, dropped counter, memberships, cursors and admin rights. */
    readonly renamePeer: (oldName: string, newName: string) => Effect.Effect<void, StoreError>
    /** Removes direct messages older than the retention, whatever their state. */
    readonly pruneRetention: (now: Date) => Effect.Effect<{ readonly removed: number }, StoreError>

    // --- groups ----------------------------------------------------------------------------
    /** `admin` is always a member, whether or not `members` lists it. */
    readonly createGroup: (input: CreateGroupInput) => Effect.Effect<GroupRecord, StoreError | GroupExists>
    readonly getGroup: (name: string) => Effect.Effect<Option.Option<GroupRecord>, StoreError>
    readonly groupsOf: (
      member: string
    ) => Effect.Effect<ReadonlyArray<{ readonly name: string; readonly unreadCount: number }>, StoreError>
    /** `true` if added, `false` if already a member. The cursor starts at 0: history is unread. */
    readonly addMember: (group: string, member: string, now: Date) => Effect.Effect<boolean, StoreError | GroupNotFound>
    /** `true` if removed, `false` if not a member. Admin rights are not moved (the hub decides). */
    readonly removeMember: (group: string, member: string) => Effect.Effect<boolean, StoreError | GroupNotFound>
    readonly setAdmin: (group: string, member: string) => Effect.Effect<void, StoreError | GroupNotFound | NotMember>
    /** Deletes the group, its members and its history. */
    readonly deleteGroup: (group: string) => Effect.Effect<void, StoreError | GroupNotFound>
    /**
     * Keeps the newest `groupCap`. A sender who is a member and had read everything has its cursor
     * moved past its own message (one's own message is not unread).
     */
    readonly appendGroupMessage: (
      input: AppendGroupMessageInput
    ) => Effect.Effect<
      { readonly message: GroupMessageRecord; readonly duplicate: boolean },
      StoreError | StoreFull | GroupNotFound
    >
    /**
     * Appends in the given order, each succeeding or failing on its own, usually in one commit:
     * how a group actor stores a burst of sends.
     */
    readonly appendGroupMessages: (
      inputs: ReadonlyArray<AppendGroupMessageInput>
    ) => Effect.Effect<
      ReadonlyArray<
        Either.Either<
          { readonly message: GroupMessageRecord; readonly duplicate: boolean },
          StoreError | StoreFull | GroupNotFound
        >
      >
    >
    /** Unread messages for `member`, oldest first, at most `limit` (default all); advances its cursor. */
    readonly groupHistory: (
      group: string,
      member: string,
      options?: { readonly limit?: number | undefined }
    ) => Effect.Effect<
      { readonly messages: ReadonlyArray<GroupMessageRecord>; readonly unreadRemaining: number },
      StoreError | GroupNotFound | NotMember
    >
    readonly unreadCount: (group: string, member: string) => Effect.Effect<number, StoreError | GroupNotFound | NotMember>

    // --- operations ------------------------------------------------------------------------
    /** `Some(text)` when the file was found corrupt on open and kept aside; for `relay doctor`. */
    readonly recoveryNotice: Effect.Effect<Option.Option<string>>
    readonly stats: Effect.Effect<StoreStats, StoreError>
  }
>() {}

export type StoreShape = Context.Tag.Service<Store>
