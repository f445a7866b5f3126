/**
 * The one place InfluxQL text is made from a value. InfluxQL's scanner reads quoted identifiers
 * ("…") and string literals ('…') the same way: it ends at the closing quote, refuses a raw
 * newline, and knows the escapes \\ \n \" \'. So escaping the backslash, the quote and newlines
 * makes any text one token that cannot end early: the value can never become query syntax.
 */
export function quote(value: string, kind: 'identifier' | 'string'): string {
  if (typeof value !== 'string') throw new TypeError(`InfluxQL ${kind} must be a string`);
  if (value.includes('\u0000')) throw new RangeError(`InfluxQL ${kind} must not contain NUL`);
  const mark = kind === 'identifier' ? '"' : "'";
  let text = mark;
  for (const char of value) {
    if (char === '\\') text += '\\\\';
    else if (char === mark) text += `\\${mark}`;
    else if (char === '\n') text += '\\n';
    else text += char;
  }
  return text + mark;
}
