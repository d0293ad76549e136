// PDF through Mozilla's PDF.js (`pdfjs-dist`): the text layer of each page in reading order,
// pages kept as spans, headings from the outline (bookmarks) or else by type size, a word
// hyphenated across a line end joined, the header and footer repeated on the pages dropped. A PDF
// with no text layer (a scan) or one that needs a password is a clear E_UNSUPPORTED, never an
// empty document.
import { DocumentBuilder, badInput, squash, unsupported } from './document.js';

const CJK = /[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/;

/** PDF.js, with its worker: the page's choice where it set one (`GlobalWorkerOptions`), the
 * `workerSrc` option, or else the worker's code run on this thread (in a Worker that is right;
 * on a page it blocks while a large file is read — give `workerSrc` there). */
async function pdfjs(workerSrc) {
  const lib = await import('pdfjs-dist');
  const opts = lib.GlobalWorkerOptions;
  if (workerSrc) opts.workerSrc = String(workerSrc);
  if (!opts.workerSrc && !opts.workerPort && !globalThis.pdfjsWorker) {
    // In a Worker, PDF.js's worker module would take the Worker's own messages over when it is
    // imported (it starts itself wherever there is no `window`): a `window` while it loads
    // keeps it from doing that.
    const shim = typeof window === 'undefined' && typeof self !== 'undefined' && typeof self.postMessage === 'function';
    if (shim) Object.defineProperty(globalThis, 'window', { value: globalThis, configurable: true });
    try {
      globalThis.pdfjsWorker = await import('pdfjs-dist/build/pdf.worker.mjs');
    } finally {
      if (shim) delete globalThis.window;
    }
  }
  return lib;
}

/** A text item's line, position and size. */
function itemsOf(content) {
  const items = [];
  for (const it of content.items) {
    if (typeof it.str !== 'string' || !it.str.trim()) continue;
    const [, , c, d, x, y] = it.transform;
    const size = Math.hypot(c, d) || it.height || 1;
    items.push({ str: it.str, x, y, w: it.width, size });
  }
  return items;
}

/** Items grouped into lines (top to bottom, left to right). */
function linesOf(items) {
  const sorted = [...items].sort((a, b) => b.y - a.y || a.x - b.x);
  const lines = [];
  for (const it of sorted) {
    const last = lines[lines.length - 1];
    if (last && Math.abs(last.y - it.y) <= 0.5 * Math.min(last.size, it.size)) {
      last.items.push(it);
      last.size = Math.max(last.size, it.size);
    } else {
      lines.push({ y: it.y, size: it.size, items: [it] });
    }
  }
  for (const l of lines) l.items.sort((a, b) => a.x - b.x);
  return lines;
}

/** The text of some items of one line: a space where there is a gap, none inside CJK text. */
function joinItems(items) {
  let s = '';
  let end = null;
  for (const it of items) {
    if (s && end !== null) {
      const gap = it.x - end;
      const cjk = CJK.test(s.slice(-1)) && CJK.test(it.str[0]);
      if (gap > 0.15 * it.size && !cjk && !/\s$/.test(s) && !/^\s/.test(it.str)) s += ' ';
    }
    s += it.str;
    end = it.x + it.w;
  }
  return squash(s);
}

/**
 * A vertical gutter between two columns: an x in the middle of the page that no item of the
 * body lines crosses, with lines having text on both sides of it. Null for one column.
 */
function gutterOf(lines, width) {
  const items = lines.flatMap((l) => l.items);
  if (items.length < 4) return null;
  let best = null;
  for (let x = width * 0.3; x <= width * 0.7; x += 2) {
    const crossing = items.filter((it) => it.x < x && it.x + it.w > x).length;
    if (crossing > items.length * 0.1) continue;
    const sideBySide = lines.filter((l) => l.items.some((it) => it.x + it.w <= x) && l.items.some((it) => it.x >= x)).length;
    if (sideBySide >= 2 && (!best || crossing < best.crossing || (crossing === best.crossing && sideBySide > best.sideBySide))) {
      best = { x, crossing, sideBySide };
    }
  }
  return best?.x ?? null;
}

/** A page's lines in reading order: where two columns stand side by side, the left one's lines
 * first, then the right one's, between the lines that span both. */
function readingOrder(lines, width) {
  const g = gutterOf(lines, width);
  if (g === null) return lines.map((l) => ({ ...l, text: joinItems(l.items), x: l.items[0].x }));
  const out = [];
  let left = [];
  let right = [];
  const part = (l, items) => ({ y: l.y, size: Math.max(...items.map((i) => i.size)), items, text: joinItems(items), x: items[0].x });
  const flush = () => {
    out.push(...left, ...right);
    left = [];
    right = [];
  };
  for (const l of lines) {
    if (l.items.some((it) => it.x < g && it.x + it.w > g)) {
      flush();
      out.push(part(l, l.items));
      continue;
    }
    const ls = l.items.filter((it) => it.x + it.w <= g);
    const rs = l.items.filter((it) => it.x >= g);
    if (ls.length) left.push(part(l, ls));
    if (rs.length) right.push(part(l, rs));
  }
  flush();
  return out;
}

/** The destination of an outline entry: `{ page, y }` (`y`: the top the viewer scrolls to, in
 * page space; null for "the whole page"), or null when it points nowhere in this file. */
async function destinationOf(doc, dest) {
  if (typeof dest === 'string') dest = await doc.getDestination(dest);
  if (!Array.isArray(dest) || dest[0] == null) return null;
  const page = (typeof dest[0] === 'number' ? dest[0] : await doc.getPageIndex(dest[0])) + 1;
  const top = { XYZ: dest[3], FitH: dest[2], FitBH: dest[2], FitR: dest[5] }[dest[1]?.name];
  return { page, y: typeof top === 'number' && Number.isFinite(top) ? top : null };
}

/** The outline (bookmarks) as headings: `[{ level, title, page, y }]` in outline order, the
 * level its depth (at most 6); entries that lead nowhere in the file (a web link, a broken
 * destination) are left out, their children kept. Empty when the PDF has none. */
async function outlineOf(doc) {
  let tree;
  try {
    tree = await doc.getOutline();
  } catch {
    return [];
  }
  const out = [];
  const walk = async (items, level) => {
    for (const it of items ?? []) {
      const title = squash(it.title ?? '');
      let at = null;
      try {
        at = await destinationOf(doc, it.dest);
      } catch {}
      if (title && at) out.push({ level: Math.min(6, level), title, ...at });
      await walk(it.items, level + 1);
    }
  };
  await walk(tree, 1);
  return out;
}

/** Letters and digits only, in lower case: how a printed heading is compared with its
 * outline entry. */
const bare = (s) => s.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');

/** How many lines from `i` print the heading `title`: the page may set it over two lines, or put
 * a number before it that the outline leaves out ("3 Results" for "Results"). 0 when they do
 * not print it. */
function printedLines(lines, i, title) {
  const want = bare(title);
  if (!want) return 0;
  let have = '';
  for (let n = i; n < lines.length && n < i + 3; n++) {
    have += bare(lines[n].text);
    const number = have.endsWith(want) ? have.slice(0, have.length - want.length) : null;
    if (have === want || (number !== null && /^[\divxlc]{1,6}$/.test(number))) return n - i + 1;
    if (!want.startsWith(have)) return 0;
  }
  return 0;
}

/** Where each outline entry of a page goes among its lines (in reading order): in place of the
 * first lines at or below its destination that print it (the heading then reads as printed),
 * else before the line nearest below its destination, in the outline's words. Gives
 * `{ before: Map<line index, entries>, consumed: Set<line index>, after: entries }` — `after`
 * for those below every line. */
function placeOutline(entries, lines) {
  const before = new Map();
  const consumed = new Set();
  const after = [];
  for (const e of entries) {
    const below = [];
    for (let i = 0; i < lines.length; i++) {
      if (!consumed.has(i) && (e.y === null || lines[i].y <= e.y + 0.5 * lines[i].size)) below.push(i);
    }
    let at = null;
    let heading = e;
    for (const i of below) {
      const n = printedLines(lines, i, e.title);
      if (n > 0) {
        at = i;
        // The heading as the page prints it (its number too).
        heading = { ...e, title: lines.slice(i, i + n).map((l) => l.text).join(' ') };
        for (let k = i; k < i + n; k++) consumed.add(k);
        break;
      }
    }
    at ??= below.length ? below.reduce((a, b) => (lines[b].y > lines[a].y ? b : a)) : null;
    if (at === null) after.push(heading);
    else before.set(at, [...(before.get(at) ?? []), heading]);
  }
  return { before, consumed, after };
}

/** Text with its digits as '#': "Page 3" and "Page 4" are the same running footer. */
const shape = (s) => s.replace(/\d+/g, '#');

/** Loads a PDF: `{ title, text, structure: { pages, headings }, metadata }`. */
export async function pdfToDocument(bytes, { password, workerSrc, onProgress, name = 'the PDF' } = {}) {
  const lib = await pdfjs(workerSrc);
  const task = lib.getDocument({
    data: bytes.slice(), password, isEvalSupported: false, disableFontFace: true, useSystemFonts: false,
    stopAtErrors: false, verbosity: 0,
  });
  let doc;
  try {
    doc = await task.promise;
  } catch (e) {
    await task.destroy().catch(() => {});
    if (e?.name === 'PasswordException') {
      // `needsPassword` lets a page ask for it and try again.
      const err = e.code === 2
        ? badInput(`${name}: the password is wrong`)
        : unsupported(`${name} is encrypted and needs a password to open: pass it as { password } to the loader`);
      err.needsPassword = true;
      throw err;
    }
    throw badInput(`${name} is not a readable PDF (${e?.message ?? e})`);
  }
  try {
    const total = doc.numPages;
    const pages = [];
    for (let n = 1; n <= total; n++) {
      const page = await doc.getPage(n);
      const [x0, y0, x1, y1] = page.view;
      const lines = readingOrder(linesOf(itemsOf(await page.getTextContent())), x1 - x0);
      pages.push({ number: n, lines, top: y1, height: y1 - y0 });
      page.cleanup();
      onProgress?.({ stage: 'parse', loaded: n, total });
    }
    const withoutText = pages.filter((p) => p.lines.length === 0).map((p) => p.number);
    if (withoutText.length === total) {
      throw unsupported(
        `${name} has no text layer (a scanned document?): localrag reads the text of PDFs and does ` +
        'no OCR. Run OCR on it first (for example OCRmyPDF, or "Recognize text" in a PDF editor) and add the result',
      );
    }
    // Headings: the outline's, where the PDF has one (its author's table of contents, the levels
    // its depth); else lines larger than the body text (the size most characters have), short,
    // their levels by size.
    const outline = await outlineOf(doc);
    const chars = new Map();
    for (const p of pages) for (const l of p.lines) chars.set(round(l.size), (chars.get(round(l.size)) ?? 0) + l.text.length);
    const body = [...chars].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 10;
    const isHeading = (l) => !outline.length && round(l.size) >= body * 1.15 && l.text.length <= 120 && /\p{L}/u.test(l.text);
    const headingSizes = [...new Set(pages.flatMap((p) => p.lines.filter(isHeading).map((l) => round(l.size))))].sort((a, b) => b - a);
    // Running headers and footers: a line near the top or bottom edge whose text recurs on at
    // least half of the pages — its digits aside ("Page 3", "Page 4"), except for a heading,
    // whose number is its own ("Section 3" atop each page is a heading, not a header).
    const edge = (p, l) => l.y > p.top - p.height * 0.1 || l.y < p.top - p.height * 0.9;
    const key = (l) => (isHeading(l) ? l.text : shape(l.text));
    const counts = new Map();
    for (const p of pages) {
      for (const k of new Set(p.lines.filter((l) => edge(p, l)).map(key))) counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const running = total >= 2
      ? new Set([...counts].filter(([, c]) => c >= Math.max(2, Math.ceil(total / 2))).map(([k]) => k))
      : new Set();

    const builder = new DocumentBuilder();
    for (const p of pages) {
      builder.page(p.number);
      const placed = placeOutline(outline.filter((e) => e.page === p.number), p.lines);
      // The usual distance between lines of a paragraph on this page: a larger one starts a
      // new paragraph.
      const gaps = [];
      for (let i = 1; i < p.lines.length; i++) {
        const d = p.lines[i - 1].y - p.lines[i].y;
        if (d > 0 && d < 3 * p.lines[i].size) gaps.push(d);
      }
      gaps.sort((a, b) => a - b);
      const usual = gaps.length ? gaps[gaps.length >> 1] : null;
      let prev = null;
      for (const [i, l] of p.lines.entries()) {
        for (const e of placed.before.get(i) ?? []) {
          builder.heading(e.level, e.title);
          prev = null;
        }
        if (placed.consumed.has(i)) continue;
        if (edge(p, l) && running.has(key(l))) continue;
        if (isHeading(l)) {
          builder.heading(headingSizes.indexOf(round(l.size)) + 1, l.text);
          prev = null;
          continue;
        }
        const spacing = prev ? prev.y - l.y : 0;
        const wide = usual ? spacing > usual * 1.35 : spacing > Math.max(prev?.size ?? 0, l.size) * 1.75;
        const newParagraph = !prev || wide || spacing < 0 || Math.abs(l.x - prev.x) > l.size * 3;
        if (newParagraph && !(prev === null && continuesParagraph(builder, l))) {
          builder.block(l.text);
        } else if (/\p{L}-$/u.test(builder.tail) && /^\p{Ll}/u.test(l.text)) {
          // A word hyphenated across the line end.
          builder.trimEnd(1);
          builder.continue(l.text, { join: true });
        } else {
          builder.continue(l.text, { join: CJK.test(builder.tail.slice(-1)) && CJK.test(l.text[0]) });
        }
        prev = l;
      }
      for (const e of placed.after) builder.heading(e.level, e.title);
    }
    const built = builder.build();
    let title;
    try {
      title = squash((await doc.getMetadata())?.info?.Title ?? '') || undefined;
    } catch {}
    // Without a Title in its metadata, the file's name (loadFile's default) names it: a PDF's
    // first heading is usually a chapter's, not the document's.
    return {
      title,
      ...built,
      metadata: { mediaType: 'application/pdf', pages: total, ...(withoutText.length ? { pagesWithoutText: withoutText } : {}) },
    };
  } finally {
    await task.destroy().catch(() => {});
  }
}

const round = (x) => Math.round(x * 2) / 2;

/** Whether the first line of a page continues the previous page's paragraph: it ended without a
 * full stop and this line starts in lower case. */
function continuesParagraph(builder, line) {
  return builder.length > 0 && builder.lastKind !== 'heading' && !/[.!?:;。！？]$/.test(builder.tail) &&
    /^\p{Ll}/u.test(line.text);
}
