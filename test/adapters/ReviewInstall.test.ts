/**
 * `relay install` / `relay uninstall` must touch only what `relay install` wrote: a user's own
 * `relay.ts` OpenCode plugin or `relay` Copilot extension is neither overwritten nor deleted, and
 * an empty XDG_CONFIG_HOME / COPILOT_HOME never turns into a path relative to the working directory.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Console, Effect, Either } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { type InstallContext, defaultContext, installWith, uninstallWith } from "../../src/cli/Install.ts"

const temps: Array<string> = []
afterEach(() => {
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

const setup = (env: Record<string, string> = {}) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "relay-review-install-"))
  temps.push(home)
  const project = path.join(home, "project")
  fs.mkdirSync(project)
  const context: InstallContext = {
    ...defaultContext(),
    env: { HOME: home, PATH: "", ...env },
    cwd: project,
    run: () => ({ status: 0, output: "Successfully" })
  }
  return { home, project, context }
}

const capture = <E>(effect: Effect.Effect<void, E>) => {
  const lines: Array<string> = []
  const log = (...args: ReadonlyArray<unknown>) => Effect.sync(() => void lines.push(args.join(" ")))
  const captured = Console.consoleWith((current) => effect.pipe(Effect.withConsole({ ...current, log } as Console.Console)))
  return Effect.runPromise(Effect.either(captured)).then((result) => ({ result, lines }))
}

describe("relay install / uninstall leave the user's files alone (review)", () => {
  it("opencode: a relay.ts the user wrote is neither overwritten by install nor deleted by uninstall", async () => {
    const { home, context } = setup()
    const file = path.join(home, ".config", "opencode", "plugins", "relay.ts")
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, "export const Mine = async () => ({})\n")

    const installed = await capture(installWith(["opencode"], context))
    expect(Either.isLeft(installed.result) && installed.result.left).toMatchObject({ _tag: "CommandFailed", exitCode: 1 })
    expect(Either.isLeft(installed.result) && installed.result.left.message).toContain(file)
    expect(fs.readFileSync(file, "utf8")).toBe("export const Mine = async () => ({})\n")

    const removed = await capture(uninstallWith(["opencode"], context))
    expect(Either.isRight(removed.result)).toBe(true)
    expect(fs.readFileSync(file, "utf8")).toBe("export const Mine = async () => ({})\n")
    expect(removed.lines.join("\n")).toContain("not written by `relay install`")
  })

  it("opencode: its own earlier install is replaced and removed as before", async () => {
    const { home, context } = setup()
    const file = path.join(home, ".config", "opencode", "plugins", "relay.ts")
    expect(Either.isRight((await capture(installWith(["opencode"], context))).result)).toBe(true)
    expect(Either.isRight((await capture(installWith(["opencode"], context))).result)).toBe(true)
    await capture(uninstallWith(["opencode"], context))
    expect(fs.existsSync(file)).toBe(false)
  })

  it("copilot: uninstall removes only the files install wrote, and keeps what else the user put there", async () => {
    const { home, context } = setup()
    const dir = path.join(home, ".copilot", "extensions", "relay")
    expect(Either.isRight((await capture(installWith(["copilot"], context))).result)).toBe(true)
    fs.writeFileSync(path.join(dir, "notes.md"), "mine\n")
    await capture(uninstallWith(["copilot"], context))
    expect(fs.readdirSync(dir)).toEqual(["notes.md"])
  })

  it("copilot: a relay extension the user wrote is neither overwritten by install nor deleted by uninstall", async () => {
    const { home, context } = setup()
    const dir = path.join(home, ".copilot", "extensions", "relay")
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, "extension.mjs"), "// my own relay extension\n")
    fs.writeFileSync(path.join(dir, "helper.mjs"), "export {}\n")

    const installed = await capture(installWith(["copilot"], context))
    expect(Either.isLeft(installed.result) && installed.result.left).toMatchObject({ _tag: "CommandFailed", exitCode: 1 })
    expect(fs.readFileSync(path.join(dir, "extension.mjs"), "utf8")).toBe("// my own relay extension\n")

    await capture(uninstallWith(["copilot"], context))
    expect(fs.readdirSync(dir).sort()).toEqual(["extension.mjs", "helper.mjs"])
  })

  it("an empty XDG_CONFIG_HOME or COPILOT_HOME means the default, not the working directory", async () => {
    const { home, project, context } = setup({ XDG_CONFIG_HOME: "", COPILOT_HOME: "" })
    const previous = process.cwd()
    // Relative paths resolve against the process's cwd: make that the project to catch them.
    process.chdir(project)
    try {
      await capture(installWith(["opencode", "copilot"], context))
    } finally {
      process.chdir(previous)
    }
    expect(fs.existsSync(path.join(home, ".config", "opencode", "plugins", "relay.ts"))).toBe(true)
    expect(fs.existsSync(path.join(home, ".copilot", "extensions", "relay", "extension.mjs"))).toBe(true)
    expect(fs.readdirSync(project)).toEqual([])
  })
})
