// Byte-exact reproduction of Python's `json.dumps(obj, indent=2)` for the answers moontune trains
// on. The model learns these strings token by token, so a single differing byte (a space, an
// escape) would make exact-match accuracy disagree with the original Python recipe.
//
// Python defaults with indent=2: item separator "," + newline, key separator ": ",
// ensure_ascii=True (every code unit outside ' '..'~' becomes \uXXXX, lowercase hex, so
// astral characters come out as surrogate pairs), `{}` for an empty object.

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

/** A JSON string literal exactly as Python's json.dumps (ensure_ascii=True) writes it. */
export function pythonJsonString(text: string): string {
  let out = '"';
  // Iterate UTF-16 code units, not code points: Python emits surrogate pairs for astral
  // characters, which is exactly the two code units JavaScript stores.
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    const code = text.charCodeAt(i);
    const short = SHORT_ESCAPES[char];
    if (short !== undefined) out += short;
    else if (code >= 0x20 && code <= 0x7e) out += char;
    else out += '\\u' + code.toString(16).padStart(4, '0');
  }
  return out + '"';
}

/** `json.dumps(entries, indent=2)` for a flat object of integer values, in the given key order. */
export function pythonJsonDumpsIntObject(entries: ReadonlyArray<readonly [string, number]>): string {
  if (entries.length === 0) return '{}';
  for (const [key, value] of entries) {
    if (!Number.isSafeInteger(value)) throw new RangeError(`count for "${key}" is not an integer: ${value}`);
  }
  const lines = entries.map(([key, value]) => `  ${pythonJsonString(key)}: ${value}`);
  return `{\n${lines.join(',\n')}\n}`;
}
