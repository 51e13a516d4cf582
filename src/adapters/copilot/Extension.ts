/**
 * The Copilot CLI extension: the session Copilot runs is one relay peer.
 *
 * Copilot starts each extension as its own Node process and hands it `joinSession` from the
 * injected `@github/copilot-sdk/extension`; the installed `extension.mjs` passes that function here.
 * The peer registers as soon as the extension starts (which is when the session starts), the
 * shared relay tools are declared with their JSON Schemas, every push is injected into the session
 * with `session.send` (an urgent direct message `immediate`, anything else `enqueue`d after the
 * current turn), and the peer disconnects when the session ends.
 *
 * This module runs on Node inside Copilot: `relay install copilot` bundles it into one JS file with
 * `bun build --target=node` (see `cli/Install.ts`), so nothing here may need Bun.
 */
import * as path from "node:path"
import { gitBranch, slug } from "../../channel/Identity.ts"
import { NamePattern } from "../../protocol/Limits.ts"
import { relayTools } from "../../tools/RelayTools.ts"
import type { Tool } from "../../tools/Tool.ts"
import type { Env } from "../../client/RelayEnvironment.ts"
import { openPeerLink, type PeerLink } from "../PeerLink.ts"
import { instructions, isUrgent, pushText } from "../SessionText.ts"
import type { WebSocketConstructor } from "../WebSocketDial.ts"

export const clientName = "relay-copilot/0.1.0"

/** What the extension uses of Copilot's `CopilotSession`. */
export interface CopilotSession {
  readonly sessionId?: string
  send(options: { prompt: string; mode?: "enqueue" | "immediate" }): Promise<unknown>
}

export interface CopilotTool {
  readonly name: string
  readonly description: string
  readonly parameters: Record<string, unknown>
  readonly handler: (args: unknown) => Promise<string | { textResultForLlm: string; resultType: "success" | "failure" }>
}

export interface JoinSessionConfig {
  readonly tools: Array<CopilotTool>
  readonly hooks: {
    readonly onSessionStart: () => Promise<{ additionalContext: string }>
    readonly onSessionEnd: () => Promise<void>
  }
}

export type JoinSession = (config: JoinSessionConfig) => Promise<CopilotSession>

export interface CopilotExtensionOptions {
  readonly env?: Env | undefined
  readonly cwd?: string | undefined
  readonly relayHome?: string | undefined
  /** How to start a hub; the installer writes the absolute `bin/relay` of the checkout it came from. */
  readonly hubCommand?: ReadonlyArray<string> | undefined
  readonly WebSocket?: WebSocketConstructor | undefined
  readonly tools?: ReadonlyArray<Tool> | undefined
}

export interface RunningExtension {
  readonly session: CopilotSession
  readonly peer: PeerLink
  /** Disconnects the peer (also done when the session ends). */
  readonly close: () => Promise<void>
}

/** `RELAY_PEER_ID` when it is a valid name, else the working directory's name slugged. */
export const peerName = (env: Env, cwd: string): string => {
  const chosen = env.RELAY_PEER_ID?.trim()
  return chosen !== undefined && NamePattern.test(chosen) ? chosen : slug(path.basename(cwd))
}

export const runCopilotExtension = async (joinSession: JoinSession, options: CopilotExtensionOptions = {}): Promise<RunningExtension> => {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const tools = options.tools ?? relayTools
  let resolveSession: (session: CopilotSession) => void = () => {}
  const sessionJoined = new Promise<CopilotSession>((resolve) => (resolveSession = resolve))

  const peer = await openPeerLink({
    name: peerName(env, cwd),
    cwd,
    gitBranch: gitBranch(cwd),
    clientName,
    env,
    relayHome: options.relayHome,
    hubCommand: options.hubCommand,
    WebSocket: options.WebSocket,
    tools,
    // Pushes that arrive while the session is still being joined wait for it.
    deliver: async (push) => {
      const session = await sessionJoined
      await session.send({ prompt: pushText(push), mode: isUrgent(push) ? "immediate" : "enqueue" })
      return true
    }
  })
  const close = () => peer.close()

  const session = await joinSession({
    tools: tools.map((tool) => ({
      name: tool.name,
      description: tool.description,
      parameters: tool.inputSchema as unknown as Record<string, unknown>,
      handler: async (args: unknown) => {
        const outcome = await peer.callTool(tool.name, args)
        return outcome.ok ? outcome.text : { textResultForLlm: outcome.text, resultType: "failure" as const }
      }
    })),
    hooks: {
      onSessionStart: async () => {
        const name = await peer.ready(5_000).catch(() => undefined)
        return { additionalContext: instructions(name) }
      },
      onSessionEnd: close
    }
  }).catch(async (error: unknown) => {
    await close()
    throw error
  })
  resolveSession(session)
  return { session, peer, close }
}
