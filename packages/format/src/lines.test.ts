import { describe, expect, it } from 'vitest';
import { utf8Lines } from './lines.js';

describe('utf8Lines', () => {
  it('gives the bytes of lines.join("\\n") + "\\n" (none for no lines), whatever the lines hold', () => {
    const pieces = ['照片/广州/第0001张.jpg', 'a', '', '😀 emoji (a surrogate pair)', '\ud800 lone high', 'lone low \udc00', 'é\u0301', '{"path":"x","size":1}'];
    // deterministic mixes of the pieces, up to a few thousand lines
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (const count of [0, 1, 2, 17, 3000]) {
      const lines = Array.from({ length: count }, () => Array.from({ length: next(5) }, () => pieces[next(pieces.length)]).join(''));
      const got = utf8Lines(lines);
      if (count === 0) expect(got.length).toBe(0); // no lines, no bytes (not a lone newline)
      else expect(got.equals(Buffer.from(lines.join('\n') + '\n'))).toBe(true);
    }
  });
});
