/**
 * Entry point of the bundle `relay install copilot` builds (`bun build --target=node`): what the
 * installed `extension.mjs` imports. Copilot stops an extension with a signal; the peer leaves the
 * hub cleanly first.
 */
import { type CopilotExtensionOptions, type JoinSession, runCopilotExtension, type RunningExtension } from "./Extension.ts"

export const start = async (joinSession: JoinSession, options: CopilotExtensionOptions = {}): Promise<RunningExtension> => {
  const running = await runCopilotExtension(joinSession, options)
  const stop = () => {
    void running.close().finally(() => process.exit(0))
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
  return running
}

export { runCopilotExtension } from "./Extension.ts"
