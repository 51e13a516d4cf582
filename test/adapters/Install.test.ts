/**
 * `relay install` / `relay uninstall` in temporary HOMEs: the files each harness loads appear and
 * go away; Claude Code's own CLI is asked for the plugin; no argument installs what is on PATH.
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

const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "relay-install-"))
  temps.push(dir)
  return dir
}

const setup = (pathEntries: ReadonlyArray<string> = []) => {
  const home = tempDir()
  const project = path.join(home, "project")
  fs.mkdirSync(project)
  const calls: Array<string> = []
  const context: InstallContext = {
    ...defaultContext(),
    env: { HOME: home, PATH: pathEntries.join(path.delimiter) },
    cwd: project,
    run: (command, args) => {
      calls.push([command, ...args].join(" "))
      const output = args[1] === "marketplace" ? "✔ Successfully added marketplace: relay-hub" : "✔ Successfully installed plugin: relay@relay-hub"
      return { status: 0, output }
    }
  }
  return { home, project, calls, context }
}

const capture = <E>(effect: Effect.Effect<void, E>) => {
  const lines: Array<string> = []
  const log = (...args: ReadonlyArray<unknown>) => Effect.sync(() => void lines.push(args.join(" ")))
  const captured = Console.consoleWith((current) => effect.pipe(Effect.withConsole({ ...current, log } as Console.Console)))
  return Effect.runPromise(Effect.either(captured)).then((result) => ({ result, lines }))
}

const root = defaultContext().root

describe("relay install / uninstall", () => {
  it("opencode, user scope (the default): a plugin file in ~/.config/opencode/plugins that re-exports the adapter by absolute path", async () => {
    const { home, context } = setup()
    const { result, lines } = await capture(installWith(["opencode"], context))
    expect(Either.isRight(result)).toBe(true)
    const file = path.join(home, ".config", "opencode", "plugins", "relay.ts")
    const source = fs.readFileSync(file, "utf8")
    expect(source).toContain(`export { RelayPlugin } from ${JSON.stringify(path.join(root, "src", "adapters", "opencode", "Plugin.ts"))}`)
    // OpenCode calls every export: the file exports exactly one thing.
    expect(source.match(/^export /gm)).toHaveLength(1)
    expect(lines.join("\n")).toContain(`opencode: wrote ${file} (user scope)`)
    // The path it names is the real module, and that module exports the plugin function.
    const module = await import(path.join(root, "src", "adapters", "opencode", "Plugin.ts"))
    expect(typeof module.RelayPlugin).toBe("function")

    await capture(uninstallWith(["opencode"], context))
    expect(fs.existsSync(file)).toBe(false)
  })

  it("opencode --scope project writes .opencode/plugins/relay.ts in the working directory; uninstall removes it", async () => {
    const { project, context } = setup()
    await capture(installWith(["opencode", "--scope", "project"], context))
    const file = path.join(project, ".opencode", "plugins", "relay.ts")
    expect(fs.existsSync(file)).toBe(true)
    const { lines } = await capture(uninstallWith(["opencode", "--scope=project"], context))
    expect(fs.existsSync(file)).toBe(false)
    expect(lines).toEqual([`opencode: removed ${file}`])
  })

  it("copilot: extension.mjs and its Node bundle under $COPILOT_HOME/extensions/relay; uninstall removes the directory", async () => {
    const { home, context } = setup()
    const copilotHome = path.join(home, "copilot-home")
    const withHome = { ...context, env: { ...context.env, COPILOT_HOME: copilotHome } }
    await capture(installWith(["copilot"], withHome))
    const dir = path.join(copilotHome, "extensions", "relay")
    const source = fs.readFileSync(path.join(dir, "extension.mjs"), "utf8")
    expect(source).toContain('import { joinSession } from "@github/copilot-sdk/extension"')
    expect(source).toContain('import { start } from "./relay.bundle.mjs"')
    expect(source).toContain(JSON.stringify(path.join(root, "bin", "relay")))
    const bundle = fs.readFileSync(path.join(dir, "relay.bundle.mjs"), "utf8")
    // Plain JavaScript for Node: no TypeScript left, nothing imported from our source tree.
    expect(bundle).not.toMatch(/from\s+["'][^"']*\.ts["']/)
    await capture(uninstallWith(["copilot"], withHome))
    expect(fs.existsSync(dir)).toBe(false)
  })

  it("copilot without COPILOT_HOME installs under ~/.copilot", async () => {
    const { home, context } = setup()
    await capture(installWith(["copilot"], context))
    expect(fs.existsSync(path.join(home, ".copilot", "extensions", "relay", "extension.mjs"))).toBe(true)
  })

  it("claude: installs relay@relay-hub from a small marketplace in ~/.relay linked to this checkout; uninstall reverses it", async () => {
    const { home, calls, context } = setup()
    const market = path.join(home, ".relay", "claude-marketplace")
    await capture(installWith(["claude"], context))
    expect(calls).toEqual([`claude plugin marketplace add ${market}`, "claude plugin install relay@relay-hub"])
    // The plugin's own files copied, code and dependencies linked: never the whole checkout.
    expect(fs.readdirSync(market).sort()).toEqual([".claude-plugin", "bin", "commands", "node_modules", "package.json", "src"])
    expect(fs.readlinkSync(path.join(market, "src"))).toBe(path.join(root, "src"))
    expect(fs.readlinkSync(path.join(market, "node_modules"))).toBe(path.join(root, "node_modules"))
    expect(fs.lstatSync(path.join(market, "bin")).isDirectory()).toBe(true)
    expect(JSON.parse(fs.readFileSync(path.join(market, ".claude-plugin", "marketplace.json"), "utf8")).name).toBe("relay-hub")
    calls.length = 0
    await capture(uninstallWith(["claude"], context))
    expect(calls).toEqual(["claude plugin uninstall relay@relay-hub", "claude plugin marketplace remove relay-hub"])
    expect(fs.existsSync(market)).toBe(false)
  })

  it("claude: RELAY_HOME decides where the marketplace lives, and a reinstall rebuilds it", async () => {
    const { home, calls, context } = setup()
    const relayHome = path.join(home, "elsewhere")
    const withHome = { ...context, env: { ...context.env, RELAY_HOME: relayHome } }
    await capture(installWith(["claude"], withHome))
    const market = path.join(relayHome, "claude-marketplace")
    fs.writeFileSync(path.join(market, "stale-file"), "x")
    await capture(installWith(["claude"], withHome))
    expect(calls[2]).toBe(`claude plugin marketplace add ${market}`)
    expect(fs.existsSync(path.join(market, "stale-file"))).toBe(false)
  })

  it("claude: a failing claude command fails the install with its output", async () => {
    const { context } = setup()
    const failing = { ...context, run: () => ({ status: 1, output: "boom" }) }
    const { result } = await capture(installWith(["claude"], failing))
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "CommandFailed", exitCode: 1 })
    expect(Either.isLeft(result) && result.left.message).toContain("boom")
  })

  it("no argument: installs for each harness found on PATH and says so", async () => {
    const bin = tempDir()
    for (const name of ["opencode", "copilot"]) fs.writeFileSync(path.join(bin, name), "#!/bin/sh\n", { mode: 0o755 })
    fs.writeFileSync(path.join(bin, "claude"), "not executable", { mode: 0o644 })
    const { home, calls, context } = setup([bin])
    const { result, lines } = await capture(installWith([], context))
    expect(Either.isRight(result)).toBe(true)
    expect(lines[0]).toBe("found on PATH: opencode, copilot")
    expect(fs.existsSync(path.join(home, ".config", "opencode", "plugins", "relay.ts"))).toBe(true)
    expect(fs.existsSync(path.join(home, ".copilot", "extensions", "relay", "extension.mjs"))).toBe(true)
    expect(calls).toEqual([])
  })

  it("no harness on PATH, or a bad argument, is an error that says what to do", async () => {
    const { context } = setup()
    const none = await capture(installWith([], context))
    expect(Either.isLeft(none.result) && none.result.left).toMatchObject({ _tag: "CommandFailed" })
    const bad = await capture(installWith(["vim"], context))
    expect(Either.isLeft(bad.result) && bad.result.left).toMatchObject({ _tag: "UsageError" })
    const scope = await capture(installWith(["opencode", "--scope", "global"], context))
    expect(Either.isLeft(scope.result) && scope.result.left.message).toContain("--scope takes project or user")
  })
})
