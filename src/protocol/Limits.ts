/**
 * Every wire limit of protocol 5/6 in one place. Caps that are hub policy (rooms, asks, buffers)
 * live in `HubConfig`; these are the ones a client can rely on whatever the hub's configuration.
 */
export const Limits = {
  /** A line (Unix socket) or text frame (WebSocket) longer than this closes the connection. */
  maxLineBytes: 1_048_576,
  /** `text` and `question`, counted in UTF-16 code units like JavaScript's `length`. */
  maxTextChars: 524_288,
  maxNameChars: 64,
  maxCwdChars: 1024,
  maxGitBranchChars: 256,
  maxReplyToChars: 256,
  maxSinceIdChars: 64,
  maxReqIdChars: 64,
  maxMsgIdChars: 256,
  maxReasonChars: 256,
  maxGroupCreateMembers: 20,
  inboxDefaultLimit: 20,
  inboxMaxLimit: 100,
  groupHistoryMaxLimit: 500,
  /** First WebSocket frame: `{"auth":"<token>"}`. */
  maxAuthFrameChars: 1024
} as const

/** Peer, room and group names: trimmed, 1–64 of `[A-Za-z0-9._-]`, case-sensitive. */
export const NamePattern = /^[A-Za-z0-9._-]{1,64}$/

export const ProtocolVersions = ["5", "6"] as const
export type ProtocolVersion = (typeof ProtocolVersions)[number]
