// Plain text and Markdown. Text is UTF-8 or UTF-16 (a byte-order mark says which; without one,
// UTF-8 must decode cleanly, and UTF-16 is recognised by its zero bytes); anything else is a
// clear error rather than a page of replacement characters.
import { DocumentBuilder, unsupported } from './document.js';
import { firstHeading, walkHtml } from './html.js';

/** Decodes text bytes: UTF-8 or UTF-16 with or without a byte-order mark. */
export function decodeText(bytes, name = 'the file') {
  const decode = (label, from = 0) => new TextDecoder(label, { fatal: true }).decode(bytes.subarray(from));
  try {
    if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return decode('utf-8', 3);
    if (bytes[0] === 0xff && bytes[1] === 0xfe) return decode('utf-16le', 2);
    if (bytes[0] === 0xfe && bytes[1] === 0xff) return decode('utf-16be', 2);
  } catch {
    throw unsupported(`${name} starts with a byte-order mark but is not valid in its encoding`);
  }
  // UTF-16 without a mark: text of mostly ASCII has a zero in every other byte.
  const n = Math.min(bytes.length & ~1, 4096);
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i < n; i += 2) {
    if (bytes[i] === 0) evenZeros++;
    if (bytes[i + 1] === 0) oddZeros++;
  }
  const pairs = n / 2;
  try {
    if (pairs >= 2 && oddZeros > pairs * 0.4 && evenZeros < pairs * 0.05) return decode('utf-16le');
    if (pairs >= 2 && evenZeros > pairs * 0.4 && oddZeros < pairs * 0.05) return decode('utf-16be');
    return decode('utf-8');
  } catch {
    throw unsupported(
      `${name} is not UTF-8 or UTF-16 text (another encoding, such as Windows-1252 or Shift_JIS, ` +
      'or not text at all): save it as UTF-8 and add it again',
    );
  }
}

/** Plain text: paragraphs as they are, no structure. */
export function textToDocument(text) {
  return { text: text.replace(/\r\n?/g, '\n'), structure: {} };
}

/** Markdown (CommonMark and GitHub's tables, by marked) to text and structure; raw HTML in it is
 * parsed like the rest, never run. */
export async function markdownToDocument(source) {
  const [{ Marked }, { parse }] = await Promise.all([import('marked'), import('parse5')]);
  const html = new Marked({ gfm: true, async: false }).parse(source.replace(/\r\n?/g, '\n'));
  const builder = new DocumentBuilder();
  walkHtml(parse(html), builder);
  const doc = builder.build();
  return { title: firstHeading(doc), ...doc };
}
