/**
 * A fake Anthropic Messages API on 127.0.0.1 for driving real clients offline.
 *
 * `POST /v1/messages` answers in JSON or SSE (when `stream: true`). While a request offers the
 * scripted tool and the conversation holds no result for it yet, the answer is one `tool_use` of
 * that tool; otherwise a short text. `count_tokens` gets a stub. Every request body is kept, so a
 * test can read exactly what the client put into the model's context.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"

export interface FakeAnthropic {
  readonly url: string
  readonly requests: Array<any>
  close(): Promise<void>
}

export interface Script {
  /** Call this tool (by the name the client gives it) once, with this input. */
  readonly tool?: { readonly name: string; readonly input: Record<string, unknown> }
  /** Or several calls in one answer (parallel tool use), each of a tool the request offers. */
  readonly tools?: ReadonlyArray<{ readonly name: string; readonly input: Record<string, unknown> }>
  readonly text?: string
}

const hasToolResult = (body: any): boolean =>
  (body.messages ?? []).some(
    (m: any) => Array.isArray(m.content) && m.content.some((part: any) => part?.type === "tool_result")
  )

const offersTool = (body: any, name: string): boolean => (body.tools ?? []).some((tool: any) => tool?.name === name)

let counter = 0

const reply = (body: any, script: Script) => {
  const id = `msg_fake_${++counter}`
  const calls = script.tools ?? (script.tool === undefined ? [] : [script.tool])
  const useTool = calls.length > 0 && calls.every((call) => offersTool(body, call.name)) && !hasToolResult(body)
  const content = useTool
    ? calls.map((call, index) => ({ type: "tool_use", id: `toolu_fake_${counter}_${index}`, name: call.name, input: call.input }))
    : [{ type: "text", text: script.text ?? "Done." }]
  return {
    id,
    type: "message",
    role: "assistant",
    model: body.model ?? "claude-fake",
    content,
    stop_reason: useTool ? "tool_use" : "end_turn",
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 5 }
  }
}

const sse = (res: http.ServerResponse, message: ReturnType<typeof reply>) => {
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
  send("message_start", { type: "message_start", message: { ...message, content: [], stop_reason: null } })
  message.content.forEach((block: any, index) => {
    if (block.type === "tool_use") {
      send("content_block_start", { type: "content_block_start", index, content_block: { ...block, input: {} } })
      send("content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) } })
    } else {
      send("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } })
      send("content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: block.text } })
    }
    send("content_block_stop", { type: "content_block_stop", index })
  })
  send("message_delta", { type: "message_delta", delta: { stop_reason: message.stop_reason, stop_sequence: null }, usage: { output_tokens: 5 } })
  send("message_stop", { type: "message_stop" })
  res.end()
}

export const startFakeAnthropic = async (script: Script): Promise<FakeAnthropic> => {
  const requests: Array<any> = []
  const server = http.createServer((req, res) => {
    let raw = ""
    req.on("data", (chunk) => (raw += chunk))
    req.on("end", () => {
      const url = req.url ?? ""
      let body: any = {}
      try {
        body = raw.length > 0 ? JSON.parse(raw) : {}
      } catch {
        body = { unparsable: raw }
      }
      if (req.method === "POST" && url.startsWith("/v1/messages/count_tokens")) {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({ input_tokens: 10 }))
        return
      }
      if (req.method === "POST" && url.startsWith("/v1/messages")) {
        requests.push(body)
        const message = reply(body, script)
        if (body.stream === true) sse(res, message)
        else {
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify(message))
        }
        return
      }
      res.writeHead(404, { "content-type": "application/json" })
      res.end(JSON.stringify({ type: "error", error: { type: "not_found_error", message: `no ${req.method} ${url} here` } }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
