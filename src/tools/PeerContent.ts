/**
 * How a push from the hub is shown to a model, on every harness.
 *
 * Peer text is untrusted input: another session (or whoever controls it) wrote it. It is wrapped in
 * a `<peer_message … trust="untrusted">` element whose attributes come only from hub-checked values,
 * and every spelling of an opening or closing `peer_message` or `channel` tag inside the text is
 * defused, so the text can neither close the wrapper early nor forge a second one (Claude Code's own
 * `<channel>` wrapper included).
 *
 * `meta` is what Claude Code puts on its `<channel>` tag: keys match `^[a-zA-Z_][a-zA-Z0-9_]*$` and
 * every value is a string, because a single non-string value makes the client drop the whole
 * notification.
 */

export interface PeerPush {
  readonly content: string
  readonly meta: Readonly<Record<string, string>>
  /** Direct-message ids to confirm to the hub once the push reached the session. */
  readonly deliveredIds: ReadonlyArray<string>
}

export const MetaKeyPattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** The tag name with invisible format characters (zero-width space, soft hyphen, …) allowed between its letters. */
const spelled = (name: string): string => [...name].join("\\p{Cf}*")

/**
 * Matches `<peer_message`, `</peer_message`, `< / channel` …, in any case, also when what a reader
 * cannot see or would skip sits between `<` and the name (`<\u200b/`, `<\\/`, `<//`), inside the
 * name, or the `<` is a full-width or small form (`＜`, `﹤`).
 */
const wrapperTag = new RegExp(`[<\\uFF1C\\uFE64][\\s\\p{Cf}\\\\/]*(?:${spelled("peer_message")}|${spelled("channel")})`, "giu")

/** Escapes the `<` of every wrapper tag spelling; the rest of the text stays as written. */
export const defuse = (text: string): string => text.replace(wrapperTag, (match) => `&lt;${match.slice(1)}`)

const attribute = (value: string): string =>
  value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

export const wrap = (text: string, attributes: Readonly<Record<string, string>>): string => {
  const attrs = Object.entries(attributes)
    .map(([key, value]) => ` ${key}="${attribute(value)}"`)
    .join("")
  return `<peer_message${attrs} trust="untrusted">\n${defuse(text)}\n</peer_message>`
}

const str = (value: unknown): string | undefined => {
  if (typeof value === "string") return value
  if (typeof value === "number" || typeof value === "boolean") return String(value)
  return undefined
}

/** Only valid keys, only string values, absent values left out. */
export const toMeta = (fields: Readonly<Record<string, unknown>>): Record<string, string> => {
  const meta: Record<string, string> = {}
  for (const [key, value] of Object.entries(fields)) {
    if (!MetaKeyPattern.test(key)) continue
    const text = str(value)
    if (text === undefined) continue
    // Ids a peer chose (a room msg_id, a broadcast_id, a reply_to) become attributes of the rendered
    // <channel …> tag: only id-shaped values go there; the content's hint still carries them escaped.
    if (peerChosenIds.has(key) && !IdPattern.test(text)) continue
    meta[key] = text
  }
  return meta
}

/** Meta keys whose values a peer can choose freely. */
const peerChosenIds = new Set(["msg_id", "reply_to", "ask_id", "broadcast_id", "thread_id"])

/** What every id the hub or our clients make looks like (hub message ids, UUIDs, `<id>:<name>`). */
export const IdPattern = /^[\w.:@+-]{1,256}$/

/**
 * A hub push as `{content, meta}`; `undefined` for frames that are not for the model. Unknown push
 * types are still shown (the hub may grow new notices), with their scalar fields as meta.
 */
export const fromPush = (frame: { readonly type: string } & Readonly<Record<string, unknown>>): PeerPush | undefined => {
  const from = str(frame.from) ?? "unknown"
  switch (frame.type) {
    case "incoming_message": {
      const msgId = str(frame.msg_id) ?? ""
      const meta = toMeta({
        kind: "message",
        from,
        msg_id: msgId,
        ts: frame.ts,
        reply_to: frame.reply_to ?? undefined,
        urgent: frame.urgent === true ? "true" : undefined
      })
      const hint = `Direct message from relay peer "${from}". Answer it with relay_reply ask_id="${attribute(msgId)}".`
      return {
        content: `${wrap(str(frame.text) ?? "", { from, kind: "message" })}\n${hint}`,
        meta,
        deliveredIds: msgId === "" ? [] : [msgId]
      }
    }
    case "incoming_ask": {
      const askId = str(frame.ask_id) ?? ""
      const meta = toMeta({ kind: "ask", from, ask_id: askId, broadcast_id: frame.broadcast_id, thread_id: frame.thread_id })
      const hint = `Broadcast question from relay peer "${from}". Answer it with relay_reply ask_id="${attribute(askId)}".`
      return { content: `${wrap(str(frame.question) ?? "", { from, kind: "ask" })}\n${hint}`, meta, deliveredIds: [] }
    }
    case "incoming_reply": {
      const meta = toMeta({ kind: "reply", from, ask_id: frame.ask_id, broadcast_id: frame.broadcast_id, thread_id: frame.thread_id })
      return { content: `${wrap(str(frame.text) ?? "", { from, kind: "reply" })}\nReply from relay peer "${from}" to your question.`, meta, deliveredIds: [] }
    }
    case "incoming_room_msg": {
      const room = str(frame.room) ?? ""
      const meta = toMeta({ kind: "room", from, room, msg_id: frame.msg_id })
      return { content: `${wrap(str(frame.text) ?? "", { from, kind: "room", room })}\nPosted in relay room "${room}" (answer with relay_room).`, meta, deliveredIds: [] }
    }
    case "incoming_group_msg": {
      const group = str(frame.group) ?? ""
      // System notices ("bob joined", "the group was deleted") come from the hub itself as `relay`.
      const meta = toMeta({ kind: "group", from, group, msg_id: frame.msg_id, ts: frame.ts, system: frame.kind === "system" ? "true" : undefined })
      return {
        content: `${wrap(str(frame.text) ?? "", { from, kind: "group", group })}\nPosted in relay group "${group}" (answer with relay_group_send).`,
        meta,
        deliveredIds: []
      }
    }
    case "receipt": {
      // Hub-generated: no peer text in it, so it needs no wrapper.
      const meta = toMeta({ kind: "receipt", msg_id: frame.msg_id, to: frame.to, state: frame.state })
      return { content: `Relay: your message ${meta.msg_id ?? ""} to ${meta.to ?? "?"} is now ${meta.state ?? "?"}.`, meta, deliveredIds: [] }
    }
    case "mailbox_notice": {
      const meta = toMeta({ kind: "mailbox_notice", dropped: frame.dropped })
      return { content: `Relay: ${str(frame.message) ?? `${meta.dropped ?? "some"} older unread messages were dropped`}.`, meta, deliveredIds: [] }
    }
    default: {
      const { type, req_id: _reqId, ...fields } = frame
      const kind = type.replace(/^incoming_/, "")
      const meta = toMeta({ ...fields, kind })
      const body = str(frame.text) ?? str(frame.message) ?? JSON.stringify(fields)
      return { content: `${wrap(body, { kind: meta.kind ?? "notice" })}\nRelay notice (${meta.kind ?? "notice"}).`, meta, deliveredIds: [] }
    }
  }
}
