/**
 * The OpenCode plugin: every root session of an OpenCode instance is one relay peer.
 *
 * A child session (a subagent's) uses its root's peer, so a team of subagents answers as the one
 * session the user sees. Tools come from the shared definitions (`relayTools`), their arguments
 * described to OpenCode in Zod (`ToolArgs.ts`) and checked by `decodeArgs` when they run. Pushes
 * become user messages in the root session with `noReply: true`, which stores them without
 * starting a model turn; an urgent direct message does start one unless configured otherwise
 * (`wake`). The instructions are appended to the system prompt of every model call. A root
 * session's peer follows its title: OpenCode's own title after the first exchange, or the user's.
 *
 * It talks to the hub over the WebSocket endpoint (`PeerLink`); the hub is started on demand.
 */
import { gitBranch } from "../../channel/Identity.ts"
import { relayTools } from "../../tools/RelayTools.ts"
import type { Tool } from "../../tools/Tool.ts"
import { type Env, relayPaths } from "../../client/RelayEnvironment.ts"
import { openPeerLink, type PeerLink } from "../PeerLink.ts"
import { instructions, isUrgent, pushText } from "../SessionText.ts"
import type { WebSocketConstructor } from "../WebSocketDial.ts"
import { namesFile, SessionNames, titleName } from "./SessionNames.ts"
import { toolArgs } from "./ToolArgs.ts"

export const clientName = "relay-opencode/0.1.0"

/** The part of OpenCode's SDK client the plugin uses. */
export interface OpenCodeClient {
  readonly session: {
    get(options: { path: { id: string }; query?: { directory?: string } }): Promise<unknown>
    prompt(options: {
      path: { id: string }
      query?: { directory?: string }
      body: { noReply?: boolean; parts: Array<{ type: "text"; text: string }> }
    }): Promise<unknown>
    promptAsync?: (options: {
      path: { id: string }
      query?: { directory?: string }
      body: { noReply?: boolean; parts: Array<{ type: "text"; text: string }> }
    }) => Promise<unknown>
  }
}

export interface PluginInput {
  readonly client: OpenCodeClient
  readonly directory: string
  readonly worktree?: string
}

export interface SessionInfo {
  readonly id: string
  readonly parentID?: string | undefined
  readonly title?: string | undefined
}

/** When a push starts a model turn: only urgent direct messages (default), never, or always. */
export type Wake = "urgent" | "never" | "always"

export interface RelayPluginOptions {
  readonly wake?: Wake | undefined
  /** Defaults to `process.env`. */
  readonly env?: Env | undefined
  readonly relayHome?: string | undefined
  readonly hubCommand?: ReadonlyArray<string> | undefined
  readonly WebSocket?: WebSocketConstructor | undefined
  readonly tools?: ReadonlyArray<Tool> | undefined
}

interface ToolContext {
  readonly sessionID: string
}

const wakeFrom = (raw: string | undefined): Wake | undefined => (raw === "urgent" || raw === "never" || raw === "always" ? raw : undefined)

/** The SDK answers `{data, error}`; older shapes return the value itself. */
const dataOf = (result: unknown): unknown =>
  typeof result === "object" && result !== null && "data" in result ? (result as { data: unknown }).data : result

const failed = (result: unknown): boolean =>
  typeof result === "object" && result !== null && "error" in result && (result as { error: unknown }).error !== undefined

const asSessionInfo = (value: unknown): SessionInfo | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  const info = value as Record<string, unknown>
  if (typeof info.id !== "string") return undefined
  return {
    id: info.id,
    parentID: typeof info.parentID === "string" && info.parentID !== "" ? info.parentID : undefined,
    title: typeof info.title === "string" ? info.title : undefined
  }
}

export const makeRelayPlugin = (options: RelayPluginOptions = {}) =>
  async (input: PluginInput) => {
    const env = options.env ?? process.env
    const { relayHome } = relayPaths(env, options.relayHome)
    const wake = options.wake ?? wakeFrom(env.RELAY_OPENCODE_WAKE) ?? "urgent"
    const names = new SessionNames(namesFile(relayHome))
    const tools = options.tools ?? relayTools
    const sessions = new Map<string, SessionInfo>()
    const peers = new Map<string, Promise<PeerLink>>()
    const deleted = new Set<string>()
    const query = { directory: input.directory }
    const branch = gitBranch(input.worktree ?? input.directory)

    const lookUp = async (id: string): Promise<SessionInfo | undefined> => {
      const known = sessions.get(id)
      if (known !== undefined) return known
      const info = asSessionInfo(dataOf(await input.client.session.get({ path: { id }, query }).catch(() => undefined)))
      if (info !== undefined) sessions.set(id, info)
      return info
    }

    /** Follows `parentID` up to the root; a session that cannot be looked up is its own root. */
    const rootOf = async (id: string): Promise<SessionInfo> => {
      let current = (await lookUp(id)) ?? { id }
      for (let depth = 0; depth < 32 && current.parentID !== undefined; depth++) {
        const parent = await lookUp(current.parentID)
        if (parent === undefined) return { id: current.parentID }
        current = parent
      }
      return current
    }

    const deliverTo = (sessionId: string) => async (push: Parameters<Parameters<typeof openPeerLink>[0]["deliver"]>[0]) => {
      const text = pushText(push)
      const startTurn = wake === "always" || (wake === "urgent" && isUrgent(push))
      const request = { path: { id: sessionId }, query, body: { noReply: !startTurn, parts: [{ type: "text" as const, text }] } }
      // A turn-starting prompt would hold the push queue for the whole turn: use the async form.
      const result = startTurn && input.client.session.promptAsync !== undefined
        ? await input.client.session.promptAsync(request)
        : await input.client.session.prompt(request)
      return !failed(result)
    }

    const peerFor = (root: SessionInfo): Promise<PeerLink> | undefined => {
      if (deleted.has(root.id)) return undefined
      const existing = peers.get(root.id)
      if (existing !== undefined) return existing
      const opening = openPeerLink({
        name: names.choose(root.id, root.title),
        cwd: input.directory,
        gitBranch: branch,
        clientName,
        env,
        relayHome,
        hubCommand: options.hubCommand,
        WebSocket: options.WebSocket,
        tools,
        deliver: deliverTo(root.id)
      })
      peers.set(root.id, opening)
      // Once registered, the name (perhaps `-2`) is the session's from now on.
      void opening
        .then((peer) => peer.ready(60_000))
        .then((name) => {
          if (!deleted.has(root.id)) names.remember(root.id, name)
        })
        .catch(() => undefined)
      return opening
    }

    /**
     * A root session's title changed (OpenCode titles a session after its first exchange, and a
     * user may retitle it): its peer takes the new name, as a Claude Code session's follows
     * `/rename`. A name already taken leaves the peer as it was.
     */
    const followTitle = async (root: SessionInfo) => {
      const wanted = titleName(root.title)
      const peer = peers.get(root.id)
      if (wanted === undefined || peer === undefined || deleted.has(root.id)) return
      const link = await peer
      if ((await link.name()) === wanted) return
      const outcome = await link.callTool("relay_rename", { new_name: wanted })
      if (outcome.ok && !deleted.has(root.id)) names.remember(root.id, await link.name())
    }

    const closePeer = async (id: string) => {
      deleted.add(id)
      const peer = peers.get(id)
      peers.delete(id)
      names.forget(id)
      if (peer !== undefined) await (await peer).close()
    }

    const tool = Object.fromEntries(
      tools.map((definition) => [
        definition.name,
        {
          description: definition.description,
          args: toolArgs(definition.inputSchema),
          execute: async (args: unknown, context: ToolContext): Promise<string> => {
            const root = await rootOf(context.sessionID)
            const peer = peerFor(root)
            if (peer === undefined) return JSON.stringify({ ok: false, code: "session_deleted", message: "this session was deleted" })
            const link = await peer
            const outcome = await link.callTool(definition.name, args)
            if (outcome.ok && definition.name === "relay_rename") names.remember(root.id, await link.name())
            return outcome.text
          }
        }
      ])
    )

    return {
      event: async ({ event }: { event: { type: string; properties?: Record<string, unknown> } }) => {
        const info = asSessionInfo(event.properties?.info)
        if (info === undefined) return
        if (event.type === "session.created" || event.type === "session.updated") {
          const before = sessions.get(info.id)
          sessions.set(info.id, info)
          if (event.type === "session.created" && info.parentID === undefined) peerFor(info)
          // `session.updated` comes for any change; only a new title renames. Not awaited: the
          // peer may still be connecting, and OpenCode's event loop must not wait for that.
          if (event.type === "session.updated" && info.parentID === undefined && before !== undefined && before.title !== info.title) {
            void followTitle(info).catch(() => undefined)
          }
        } else if (event.type === "session.deleted") {
          sessions.delete(info.id)
          if (info.parentID === undefined) await closePeer(info.id)
        }
      },
      tool,
      "experimental.chat.system.transform": async (hookInput: { sessionID?: string }, output: { system: Array<string> }) => {
        let name: string | undefined
        if (hookInput.sessionID !== undefined) {
          const peer = peerFor(await rootOf(hookInput.sessionID))
          name = peer === undefined ? undefined : await (await peer).name()
        }
        output.system.push(instructions(name))
      },
      dispose: async () => {
        const open = [...peers.values()]
        peers.clear()
        await Promise.all(open.map(async (peer) => (await peer).close()))
      }
    }
  }

/** The plugin as OpenCode loads it, configured from the environment. */
export const RelayPlugin = makeRelayPlugin()
