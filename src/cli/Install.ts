/**
 * `relay install [claude|opencode|copilot]` and `relay uninstall …`: put Relay into each harness
 * the way that harness loads extensions, pointing back at this checkout by absolute path.
 *
 * - Claude Code: the plugin as a local marketplace (`claude plugin marketplace add <dir>`, `claude
 *   plugin install relay@relay-hub`), where `<dir>` is `$RELAY_HOME/claude-marketplace`: the
 *   plugin's own files copied, its code and dependencies linked to this checkout. Not the checkout
 *   itself: Claude Code copies a marketplace directory whole, and a checkout (with node_modules,
 *   .git and the test harnesses) came to about 2 GB.
 * - OpenCode: a one-line plugin file `relay.ts` in `.opencode/plugins/` (project scope) or
 *   OpenCode's user plugin directory that re-exports `src/adapters/opencode/Plugin.ts`; OpenCode
 *   runs on Bun, which loads our TypeScript as it is.
 * - Copilot CLI: `$COPILOT_HOME/extensions/relay/extension.mjs` plus `relay.bundle.mjs`, the
 *   extension built into one JS file with `bun build --target=node`. Copilot runs extensions on
 *   Node, which cannot load our TypeScript from a package directory; a bundle built at install
 *   time needs nothing else at run time and cannot drift from the checkout it was built from
 *   (reinstall after updating).
 *
 * Without a harness argument every harness found on `PATH` is installed.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Console, Effect } from "effect"
import { hubCommand, packageRoot } from "../client/Bootstrap.ts"
import { nonEmpty, relayPaths } from "../client/RelayEnvironment.ts"
import { CommandFailed, UsageError } from "./CliErrors.ts"


export const harnesses = ["claude", "opencode", "copilot"] as const
export type Harness = (typeof harnesses)[number]
export type Scope = "project" | "user"

export interface InstallContext {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  /** The checkout being installed. */
  readonly root: string
  /** Runs a harness's own CLI; returns its exit status and output. */
  readonly run: (command: string, args: ReadonlyArray<string>) => { readonly status: number | null; readonly output: string }
}

export const defaultContext = (): InstallContext => ({
  env: process.env,
  cwd: process.cwd(),
  root: packageRoot(),
  run: (command, args) => {
    const result = spawnSync(command, args, { encoding: "utf8" })
    return { status: result.error === undefined ? result.status : 127, output: `${result.stdout ?? ""}${result.stderr ?? ""}${result.error?.message ?? ""}` }
  }
})

// An empty variable means "not set", as OpenCode and Copilot read them; never a path relative to the cwd.
const home = (context: InstallContext) => nonEmpty(context.env.HOME) ?? os.homedir()

/** OpenCode's user plugin directory: `$XDG_CONFIG_HOME/opencode/plugins` (default `~/.config`). */
export const openCodePluginDir = (context: InstallContext, scope: Scope): string =>
  scope === "project"
    ? path.join(context.cwd, ".opencode", "plugins")
    : path.join(nonEmpty(context.env.XDG_CONFIG_HOME) ?? path.join(home(context), ".config"), "opencode", "plugins")

export const copilotExtensionDir = (context: InstallContext): string =>
  path.join(nonEmpty(context.env.COPILOT_HOME) ?? path.join(home(context), ".copilot"), "extensions", "relay")

const marker = "Installed by `relay install`"

export const openCodePluginSource = (root: string): string =>
  `// ${marker} from ${root}; remove with \`relay uninstall opencode\`.
// OpenCode calls every export of a plugin file: export only the plugin.
export { RelayPlugin } from ${JSON.stringify(path.join(root, "src", "adapters", "opencode", "Plugin.ts"))}
`

export const copilotExtensionSource = (root: string): string =>
  `// ${marker} from ${root}; remove with \`relay uninstall copilot\`.
import { joinSession } from "@github/copilot-sdk/extension"
import { start } from "./relay.bundle.mjs"

await start(joinSession, { hubCommand: ${JSON.stringify(hubCommand(root))} })
`

/** True when `file` is absent or was written by `relay install` (it carries the marker). */
const oursOrAbsent = (file: string): boolean => {
  try {
    return fs.readFileSync(file, "utf8").includes(marker)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT"
  }
}

const notOurs = (harness: string, file: string) =>
  new CommandFailed({
    message: `${harness}: ${file} exists and was not written by \`relay install\`; left as it is. Move it away and run the install again.`,
    exitCode: 1
  })

const which = (context: InstallContext, command: string): string | undefined => {
  for (const dir of (context.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue
    const candidate = path.join(dir, command)
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      if (fs.statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

const attempt = <A>(what: string, f: () => A) =>
  Effect.try({ try: f, catch: (error) => new CommandFailed({ message: `${what}: ${error instanceof Error ? error.message : String(error)}`, exitCode: 1 }) })

const bunFor = (root: string): string =>
  path.basename(process.execPath).startsWith("bun") ? process.execPath : path.join(root, "node_modules", ".bin", "bun")

const installOpenCode = (context: InstallContext, scope: Scope) =>
  Effect.gen(function* () {
    const dir = openCodePluginDir(context, scope)
    const file = path.join(dir, "relay.ts")
    if (!oursOrAbsent(file)) return yield* notOurs("opencode", file)
    yield* attempt(`cannot write ${file}`, () => {
      fs.mkdirSync(dir, { recursive: true })
      fs.writeFileSync(file, openCodePluginSource(context.root))
    })
    yield* Console.log(`opencode: wrote ${file} (${scope} scope); OpenCode loads it on its next start`)
  })

const uninstallOpenCode = (context: InstallContext, scope: Scope) =>
  Effect.gen(function* () {
    const file = path.join(openCodePluginDir(context, scope), "relay.ts")
    if (!fs.existsSync(file)) return yield* Console.log(`opencode: nothing to remove (${file} does not exist)`)
    if (!oursOrAbsent(file)) return yield* Console.log(`opencode: nothing to remove (${file} was not written by \`relay install\`; left as it is)`)
    yield* attempt(`cannot remove ${file}`, () => fs.rmSync(file))
    yield* Console.log(`opencode: removed ${file}`)
  })

const installCopilot = (context: InstallContext) =>
  Effect.gen(function* () {
    const dir = copilotExtensionDir(context)
    const bundle = path.join(dir, "relay.bundle.mjs")
    const file = path.join(dir, "extension.mjs")
    if (!oursOrAbsent(file)) return yield* notOurs("copilot", file)
    yield* attempt(`cannot create ${dir}`, () => fs.mkdirSync(dir, { recursive: true }))
    const built = spawnSync(
      bunFor(context.root),
      ["build", path.join(context.root, "src", "adapters", "copilot", "main.ts"), "--target=node", "--format=esm", `--outfile=${bundle}`],
      { encoding: "utf8", cwd: context.root }
    )
    if (built.status !== 0) {
      return yield* new CommandFailed({ message: `copilot: bundling the extension failed: ${built.stderr || built.stdout || built.error?.message}`, exitCode: 1 })
    }
    yield* attempt(`cannot write ${file}`, () => fs.writeFileSync(file, copilotExtensionSource(context.root)))
    yield* Console.log(`copilot: wrote ${file} and ${bundle}; extensions are experimental: start copilot with --experimental`)
  })

const uninstallCopilot = (context: InstallContext) =>
  Effect.gen(function* () {
    const dir = copilotExtensionDir(context)
    if (!fs.existsSync(dir)) return yield* Console.log(`copilot: nothing to remove (${dir} does not exist)`)
    const file = path.join(dir, "extension.mjs")
    if (!oursOrAbsent(file)) return yield* Console.log(`copilot: nothing to remove (${file} was not written by \`relay install\`; left as it is)`)
    // Only the two files the install wrote: anything else in the directory is the user's.
    yield* attempt(`cannot remove ${dir}`, () => {
      fs.rmSync(file, { force: true })
      fs.rmSync(path.join(dir, "relay.bundle.mjs"), { force: true })
      if (fs.readdirSync(dir).length === 0) fs.rmdirSync(dir)
    })
    if (fs.existsSync(dir)) return yield* Console.log(`copilot: removed the relay files from ${dir}; other files there were left as they are`)
    yield* Console.log(`copilot: removed ${dir}`)
  })

const claudeStep = (context: InstallContext, args: ReadonlyArray<string>, ok: (output: string) => boolean) =>
  Effect.gen(function* () {
    const result = context.run("claude", args)
    if (result.status !== 0 || !ok(result.output)) {
      return yield* new CommandFailed({ message: `claude: \`claude ${args.join(" ")}\` failed: ${result.output.trim()}`, exitCode: 1 })
    }
    return result.output
  })

/** Where the marketplace Claude Code installs from lives: ours alone, rebuilt on every install. */
export const claudeMarketplaceDir = (context: InstallContext): string =>
  path.join(relayPaths(context.env, nonEmpty(context.env.RELAY_HOME) ?? path.join(home(context), ".relay")).relayHome, "claude-marketplace")

/** The plugin's own (small) files are copied; code and dependencies are links to the checkout. */
const copiedIntoMarketplace = [".claude-plugin", "commands", "bin", "package.json"] as const
const linkedFromMarketplace = ["src", "node_modules"] as const

const buildClaudeMarketplace = (context: InstallContext) =>
  attempt(`cannot prepare the plugin directory for Claude Code`, () => {
    const dir = claudeMarketplaceDir(context)
    fs.rmSync(dir, { recursive: true, force: true })
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    for (const entry of copiedIntoMarketplace) fs.cpSync(path.join(context.root, entry), path.join(dir, entry), { recursive: true })
    for (const entry of linkedFromMarketplace) fs.symlinkSync(path.join(context.root, entry), path.join(dir, entry))
    return dir
  })

const installClaude = (context: InstallContext) =>
  Effect.gen(function* () {
    const dir = yield* buildClaudeMarketplace(context)
    yield* claudeStep(context, ["plugin", "marketplace", "add", dir], (out) => /Successfully added|already/i.test(out))
    yield* claudeStep(context, ["plugin", "install", "relay@relay-hub"], (out) => /Successfully installed|already/i.test(out))
    yield* Console.log(`claude: installed the plugin relay@relay-hub from the marketplace at ${dir} (linked to ${context.root})`)
  })

const uninstallClaude = (context: InstallContext) =>
  Effect.gen(function* () {
    yield* claudeStep(context, ["plugin", "uninstall", "relay@relay-hub"], () => true)
    yield* claudeStep(context, ["plugin", "marketplace", "remove", "relay-hub"], () => true)
    yield* attempt(`cannot remove ${claudeMarketplaceDir(context)}`, () => fs.rmSync(claudeMarketplaceDir(context), { recursive: true, force: true }))
    yield* Console.log("claude: uninstalled relay@relay-hub and removed the relay-hub marketplace")
  })

interface Parsed {
  readonly targets: ReadonlyArray<Harness> | undefined
  readonly scope: Scope
}

const parse = (verb: string, args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const targets: Array<Harness> = []
    let scope: Scope = "user"
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!
      if (arg === "--scope" || arg.startsWith("--scope=")) {
        const value = arg.includes("=") ? arg.slice("--scope=".length) : args[++i]
        if (value !== "project" && value !== "user") return yield* new UsageError({ message: `--scope takes project or user, not '${value ?? ""}'` })
        scope = value
      } else if ((harnesses as ReadonlyArray<string>).includes(arg)) {
        targets.push(arg as Harness)
      } else {
        return yield* new UsageError({ message: `unknown argument '${arg}'; usage: relay ${verb} [claude|opencode|copilot] [--scope project|user]` })
      }
    }
    return { targets: targets.length === 0 ? undefined : targets, scope } satisfies Parsed
  })

const detect = (context: InstallContext, verb: string) =>
  Effect.gen(function* () {
    const found = harnesses.filter((harness) => which(context, harness) !== undefined)
    if (found.length === 0) {
      return yield* new CommandFailed({
        message: `none of claude, opencode, copilot is on PATH; name one: relay ${verb} claude|opencode|copilot`,
        exitCode: 1
      })
    }
    yield* Console.log(`found on PATH: ${found.join(", ")}`)
    return found
  })

export const installWith = (args: ReadonlyArray<string>, context: InstallContext) =>
  Effect.gen(function* () {
    const parsed = yield* parse("install", args)
    const targets = parsed.targets ?? (yield* detect(context, "install"))
    for (const target of targets) {
      if (target === "opencode") yield* installOpenCode(context, parsed.scope)
      else if (target === "copilot") yield* installCopilot(context)
      else yield* installClaude(context)
    }
  })

export const uninstallWith = (args: ReadonlyArray<string>, context: InstallContext) =>
  Effect.gen(function* () {
    const parsed = yield* parse("uninstall", args)
    const targets = parsed.targets ?? (yield* detect(context, "uninstall"))
    for (const target of targets) {
      if (target === "opencode") yield* uninstallOpenCode(context, parsed.scope)
      else if (target === "copilot") yield* uninstallCopilot(context)
      else yield* uninstallClaude(context)
    }
  })

/** `relay install …` */
export const install = (args: ReadonlyArray<string>): Effect.Effect<void, UsageError | CommandFailed> =>
  Effect.suspend(() => installWith(args, defaultContext()))

/** `relay uninstall …` */
export const uninstall = (args: ReadonlyArray<string>): Effect.Effect<void, UsageError | CommandFailed> =>
  Effect.suspend(() => uninstallWith(args, defaultContext()))
