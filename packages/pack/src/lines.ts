/**
 * The "path" of an entries or members line, which our encoders write first: only that string is
 * parsed, not the whole line (the tree thread keys every line of both lists by it).
 */
export function leadingPath(line: string): string {
  const prefix = '{"path":"';
  if (!line.startsWith(prefix)) return (JSON.parse(line) as { path: string }).path;
  for (let i = prefix.length; ;) {
    const q = line.indexOf('"', i);
    if (q < 0) return (JSON.parse(line) as { path: string }).path;
    let slashes = 0;
    for (let b = q - 1; line.charCodeAt(b) === 0x5c; b--) slashes++;
    if (slashes % 2 === 0) return JSON.parse(line.slice(prefix.length - 1, q + 1)) as string;
    i = q + 1;
  }
}
