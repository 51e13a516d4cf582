/**
 * The `relay` command as a user runs it: `bin/relay` (which finds the Bun that `npm install`
 * brought), a private data directory per test, nothing of the hub's code in the test process.
 */
import { spawn } from "node:child_process"
import * as os from "node:os"
import * as path from "node:path"
import { type ProcessHub, repoRoot, startProcessHub } from "../support/TestHub.ts"

export const relayBin = path.join(repoRoot, "bin/relay")

export interface RelayEnv {
  readonly RELAY_HOME: string
  readonly [name: string]: string
}

const environment = (env: RelayEnv): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? os.homedir(),
  // Any free port: 9376 may be taken on a shared machine, and the WebSocket layer still starts.
  RELAY_WS_PORT: "auto",
  ...env
})

export interface RelayResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a `relay` command to completion. */
export const relay = (args: ReadonlyArray<string>, env: RelayEnv, timeoutMs = 20_000): Promise<RelayResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(relayBin, args, { env: environment(env), stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`relay ${args.join(" ")} did not finish within ${timeoutMs} ms: ${stdout} ${stderr}`))
    }, timeoutMs)
    child.once("error", reject)
    child.once("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

export type RelayHub = ProcessHub

/** Starts `relay hub …` through `bin/relay` and waits for its `ready` line. */
export const startRelayHub = (args: ReadonlyArray<string>, env: RelayEnv): Promise<RelayHub> =>
  startProcessHub({ dataDir: env.RELAY_HOME, args, env: { RELAY_WS_PORT: "auto", ...env }, viaBin: true })
