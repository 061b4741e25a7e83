/**
 * Text the SDK did not write itself (what a user typed, a token's header, a gateway's or a model's answer) with
 * every control character made visible: a line stays one line and cannot drive a terminal (ANSI/OSC escapes
 * such as `ESC ]0;` or `ESC [2J`, bidirectional overrides, line separators). The CLI prints all such text
 * through here, and so do the SDK's stderr log lines.
 */
export function visible(text: string): string {
  return text.replace(CONTROL, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}
// C0, DEL, C1, the line/paragraph separators and the bidirectional embedding/override/isolate controls
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
