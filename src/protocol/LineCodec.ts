/**
 * NDJSON framing over a byte stream.
 *
 * The cap is enforced while scanning for `\n`: a line that is still open when its bytes pass the cap
 * is refused before any more of it is buffered, so a peer cannot make the hub hold more than
 * `maxLineBytes` (plus one read chunk) for it. Lines are split on bytes, never on decoded text, so a
 * chunk boundary inside a multi-byte UTF-8 character is harmless.
 */

export type SplitResult =
  | { readonly _tag: "Lines"; readonly lines: ReadonlyArray<string> }
  | { readonly _tag: "LineTooLong"; readonly lines: ReadonlyArray<string> }

const NEWLINE = 0x0a
const CARRIAGE_RETURN = 0x0d

export class LineSplitter {
  private readonly decoder = new TextDecoder("utf-8")
  private pending: Array<Uint8Array> = []
  private pendingBytes = 0
  private overflowed = false

  constructor(readonly maxLineBytes: number) {}

  /**
   * Feeds one chunk. Returns the complete lines it closed (empty ones skipped); after a
   * `LineTooLong` the splitter refuses everything, because the stream has lost its framing.
   */
  push(chunk: Uint8Array): SplitResult {
    if (this.overflowed) return { _tag: "LineTooLong", lines: [] }
    const lines: Array<string> = []
    let start = 0
    while (start <= chunk.length) {
      const newline = chunk.indexOf(NEWLINE, start)
      if (newline === -1) {
        const rest = chunk.length - start
        // A trailing `\r` may be half of the line ending: it does not count towards the cap.
        const trailingCr = rest > 0 ? chunk[chunk.length - 1] === CARRIAGE_RETURN : this.pendingEndsWithCr()
        if (this.pendingBytes + rest - (trailingCr ? 1 : 0) > this.maxLineBytes) {
          this.overflow()
          return { _tag: "LineTooLong", lines }
        }
        if (rest > 0) {
          // Copy: the transport may reuse its read buffer.
          this.pending.push(chunk.slice(start))
          this.pendingBytes += rest
        }
        break
      }
      const beforeNewline = newline > start ? chunk[newline - 1] === CARRIAGE_RETURN : this.pendingEndsWithCr()
      const size = this.pendingBytes + (newline - start) - (beforeNewline ? 1 : 0)
      if (size > this.maxLineBytes) {
        this.overflow()
        return { _tag: "LineTooLong", lines }
      }
      const line = this.take(chunk.subarray(start, newline))
      if (line !== undefined) lines.push(line)
      start = newline + 1
    }
    return { _tag: "Lines", lines }
  }

  /** The unterminated last line at end of stream, if any. */
  end(): string | undefined {
    if (this.overflowed || this.pendingBytes === 0) return undefined
    return this.take(new Uint8Array(0))
  }

  private pendingEndsWithCr(): boolean {
    const last = this.pending[this.pending.length - 1]
    return last !== undefined && last[last.length - 1] === CARRIAGE_RETURN
  }

  private overflow() {
    this.overflowed = true
    this.pending = []
    this.pendingBytes = 0
  }

  private take(tail: Uint8Array): string | undefined {
    let bytes = tail
    if (this.pendingBytes > 0) {
      bytes = new Uint8Array(this.pendingBytes + tail.length)
      let offset = 0
      for (const part of this.pending) {
        bytes.set(part, offset)
        offset += part.length
      }
      bytes.set(tail, offset)
      this.pending = []
      this.pendingBytes = 0
    }
    let end = bytes.length
    if (end > 0 && bytes[end - 1] === CARRIAGE_RETURN) end--
    const text = this.decoder.decode(bytes.subarray(0, end))
    return text.trim().length === 0 ? undefined : text
  }
}

/** Splits the text of one WebSocket frame, which may carry several NDJSON lines. */
export const splitFrameText = (text: string): Array<string> =>
  text.split("\n").flatMap((line) => {
    const trimmed = line.endsWith("\r") ? line.slice(0, -1) : line
    return trimmed.trim().length === 0 ? [] : [trimmed]
  })
