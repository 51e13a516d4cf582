/**
 * What a relay tool is, independent of the harness that shows it to a model: a name, a description
 * the model acts on, an argument Schema (served to the harness as JSON Schema), and a behaviour over
 * the hub client. The Claude Code channel, the OpenCode plugin and the Copilot extension all run the
 * same definitions through `runTool`, so a tool behaves the same everywhere.
 */
import { Effect, Either, JSONSchema, ParseResult, Schema } from "effect"
import { HubClient, type HubError } from "../client/HubClient.ts"

/** A tool call that did not succeed; `code` is stable (a hub code, `bad_args`, `unknown_tool`, …). */
export class ToolError extends Schema.TaggedError<ToolError>()("ToolError", {
  code: Schema.String,
  message: Schema.String
}) {}

export type ToolResult = Readonly<Record<string, unknown>>

export interface Tool<A = any> {
  readonly name: string
  readonly description: string
  readonly args: Schema.Schema<A, any>
  /** `args` as JSON Schema (draft-07 subset), always an object schema. */
  readonly inputSchema: JsonObjectSchema
  readonly run: (args: A) => Effect.Effect<ToolResult, ToolError | HubError, HubClient>
}

export interface JsonObjectSchema {
  readonly type: "object"
  readonly properties: Readonly<Record<string, unknown>>
  readonly required?: ReadonlyArray<string>
  readonly additionalProperties: false
  readonly [key: string]: unknown
}

/** Drops what only adds noise for a model (`$schema`, generated titles). */
const clean = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(clean)
  if (typeof value !== "object" || value === null) return value
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) {
    if (key === "$schema" || key === "$id" || key === "title") continue
    out[key] = clean(inner)
  }
  return out
}

export const toInputSchema = (schema: Schema.Schema<any, any>): JsonObjectSchema => {
  const json = clean(JSONSchema.make(schema)) as Record<string, unknown>
  // An empty Struct becomes `{anyOf: [object, array]}`; harnesses want a plain object schema.
  if (json.type !== "object") return { type: "object", properties: {}, additionalProperties: false }
  return { ...json, type: "object", properties: (json.properties ?? {}) as Record<string, unknown>, additionalProperties: false }
}

export const make = <A>(definition: {
  readonly name: string
  readonly description: string
  readonly args: Schema.Schema<A, any>
  readonly run: (args: A) => Effect.Effect<ToolResult, ToolError | HubError, HubClient>
}): Tool<A> => ({ ...definition, inputSchema: toInputSchema(definition.args) })

const describe = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ")

/** Decodes the arguments or fails with `bad_args` naming every field that is wrong. */
export const decodeArgs = <A>(tool: Tool<A>, raw: unknown): Either.Either<A, ToolError> => {
  const input = raw === undefined || raw === null ? {} : raw
  // An empty Struct accepts any object, so unknown fields are checked against the schema's own list.
  if (typeof input === "object" && !Array.isArray(input)) {
    const unknown = Object.keys(input).filter((key) => !Object.hasOwn(tool.inputSchema.properties, key))
    if (unknown.length > 0) {
      const known = Object.keys(tool.inputSchema.properties)
      return Either.left(
        new ToolError({
          code: "bad_args",
          message: `${tool.name}: unknown argument${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `'${k}'`).join(", ")}; ${known.length === 0 ? "it takes no arguments" : `it takes ${known.join(", ")}`}`
        })
      )
    }
  }
  return Schema.decodeUnknownEither(tool.args, { errors: "all", onExcessProperty: "error" })(input).pipe(
    Either.mapLeft((error) => new ToolError({ code: "bad_args", message: `${tool.name}: ${describe(error)}` }))
  )
}

/**
 * Runs the named tool on raw arguments. Every failure comes back as a `ToolError` with a stable
 * code: an unknown name is `unknown_tool`, bad arguments are `bad_args` (answered before anything
 * goes to the hub), and the hub's refusals keep the hub's code.
 */
export const runTool = (
  tools: ReadonlyArray<Tool>,
  name: string,
  raw: unknown
): Effect.Effect<ToolResult, ToolError, HubClient> =>
  Effect.gen(function* () {
    const tool = tools.find((candidate) => candidate.name === name)
    if (tool === undefined) {
      return yield* new ToolError({
        code: "unknown_tool",
        message: `unknown tool '${name}'; the relay tools are ${tools.map((t) => t.name).join(", ")}`
      })
    }
    const args = yield* decodeArgs(tool, raw)
    return yield* tool.run(args).pipe(
      Effect.catchTag("HubError", (error) => Effect.fail(new ToolError({ code: error.code, message: error.message })))
    )
  }).pipe(Effect.withSpan("Tool.run", { attributes: { tool: name } }))

/** The reply frame as a tool result: `ok: true` plus the hub's fields, minus wire bookkeeping. */
export const fromReply = (reply: Readonly<Record<string, unknown>>, extra: Record<string, unknown> = {}): ToolResult => {
  const { type: _type, req_id: _reqId, ...fields } = reply
  return { ok: true, ...fields, ...extra }
}
