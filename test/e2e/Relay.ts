/**
 * The `relay` command as a user runs it: `bin/relay` (which finds the Bun that `npm install`
 * brought), a private data directory per test, nothing of the hub's code in the test process.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as os from "node:os"
import * as path from "node:path"
import { repoRoot } from "../support/TestHub.ts"

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

export interface RelayHub {
  readonly child: ChildProcess
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<number | null>
  readonly hasExited: () => boolean
  /** SIGTERM, then SIGKILL if it does not go within 10 s (a hung hub fails its test, not the run). */
  stop(): Promise<void>
}

/** Starts `relay hub …` and waits for its `ready` line. */
export const startRelayHub = async (args: ReadonlyArray<string>, env: RelayEnv): Promise<RelayHub> => {
  const child = spawn(relayBin, ["hub", ...args], { env: environment(env), stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  let onReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => (onReady = resolve))
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    stdout += d
    if (stdout.includes("ready")) onReady()
  })
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d))
  let done = false
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      done = true
      resolve(code)
    })
  )
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
  const started = await Promise.race([ready.then(() => "ready" as const), exited])
  clearTimeout(timer)
  if (started !== "ready") throw new Error(`relay hub exited (${started}) before it was ready: ${stdout} ${stderr}`)
  return {
    child,
    pid: child.pid!,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    hasExited: () => done,
    stop: async () => {
      if (!done) child.kill("SIGTERM")
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000)
      await exited
      clearTimeout(killer)
    }
  }
}
