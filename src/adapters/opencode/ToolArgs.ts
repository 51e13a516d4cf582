/**
 * OpenCode wants a plugin tool's `args` as a record of Zod (v4) schemas: it turns them into the
 * JSON Schema the model sees. Our tools are defined once as Effect Schemas with a JSON Schema
 * (`tool.inputSchema`), so this maps that JSON Schema's small vocabulary (string, number, integer,
 * boolean, array; lengths, ranges, patterns, descriptions, required) onto Zod.
 *
 * The Zod side only describes; the arguments are still checked by the shared `decodeArgs` when the
 * tool runs, so a mapping that is looser than the Effect Schema can never let a bad call through.
 */
import * as z from "zod/v4"
import type { JsonObjectSchema } from "../../tools/Tool.ts"

type Json = Readonly<Record<string, unknown>>

const num = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined)

const describe = <S extends z.ZodType>(schema: S, json: Json): S =>
  typeof json.description === "string" ? (schema.describe(json.description) as S) : schema

export const toZod = (json: Json): z.ZodType => {
  switch (json.type) {
    case "string": {
      let schema = z.string()
      const min = num(json.minLength)
      const max = num(json.maxLength)
      if (min !== undefined) schema = schema.min(min)
      if (max !== undefined) schema = schema.max(max)
      if (typeof json.pattern === "string") schema = schema.regex(new RegExp(json.pattern))
      return describe(schema, json)
    }
    case "integer":
    case "number": {
      let schema = json.type === "integer" ? z.number().int() : z.number()
      const min = num(json.minimum)
      const max = num(json.maximum)
      if (min !== undefined) schema = schema.min(min)
      if (max !== undefined) schema = schema.max(max)
      return describe(schema, json)
    }
    case "boolean":
      return describe(z.boolean(), json)
    case "array": {
      const items = typeof json.items === "object" && json.items !== null ? toZod(json.items as Json) : z.unknown()
      let schema = z.array(items)
      const max = num(json.maxItems)
      if (max !== undefined) schema = schema.max(max)
      return describe(schema, json)
    }
    default:
      return describe(z.unknown(), json)
  }
}

/** The `args` record of an OpenCode tool: one Zod schema per property, optional unless required. */
export const toolArgs = (schema: JsonObjectSchema): Record<string, z.ZodType> => {
  const required = new Set(schema.required ?? [])
  const args: Record<string, z.ZodType> = {}
  for (const [key, value] of Object.entries(schema.properties)) {
    const inner = toZod(value as Json)
    args[key] = required.has(key) ? inner : inner.optional()
  }
  return args
}
