// A small, safe Markdown renderer for the knowledge base: headings, paragraphs (a line break is a
// line break, as people type in a text box), bold, italic, strikethrough, inline code, fenced
// code blocks, ordered and unordered lists (nested by indenting), task lists, links, images,
// blockquotes, horizontal rules and pipe tables. It builds DOM nodes and never parses HTML: text
// only ever becomes text nodes, so nothing an author writes can run or restyle the page. Links
// and images take http, https and relative addresses only, and, in an article, `file:12` for
// the article's attachment 12 (resolved by the caller: `options.files`). The server's
// Content-Security-Policy lets images load from this origin only, so an image elsewhere is shown
// as a link to it.

import { h } from "./ui.js";
import { icon } from "./icons.js";

/** Blocks inside blocks (quotes, list items) deeper than this are shown as text. */
const MAX_DEPTH = 6;

const FENCE = /^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}>/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$/;
const TABLE_RULE = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
const TASK = /^\[([ xX])\][ \t]+/;
const PUNCTUATION = /[!-/:-@[-`{-~]/;
/** The longest link text and address read, so that text full of brackets is read in linear time. */
const MAX_LABEL = 1000;
const MAX_URL = 2048;
/** A bare address in text: up to a space, a quote, or Chinese punctuation. */
const BARE_URL = /^https?:\/\/[^\s<>"'`，。；：！？、（）【】“”‘’]+/;
/** An article's attachment named in a link or an image: `file:12`. */
const FILE_TARGET = /^file:(\d{1,18})$/i;

/**
 * `text` as Markdown: a `div.md` of DOM nodes. `image(url)` may give another address for an
 * image (or a promise of one), e.g. a library file's with the reader's access token.
 * `files(id)` gives the address of the attachment a `file:{id}` target names (or a promise of
 * one), and is asked again each time such a link is followed; without it (outside an article)
 * such targets are not links.
 * @param {string} text
 * @param {{image?: (url: string) => string | Promise<string>,
 *   files?: (id: number) => string | Promise<string>}} [options]
 * @returns {HTMLElement}
 */
export function renderMarkdown(text, options = {}) {
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n")
    .map((line) => line.replace(/^\t+/, (tabs) => "    ".repeat(tabs.length)));
  return h("div", { class: "md" }, blocks(lines, 0, options));
}

/** The address if it is http, https or relative; null for anything else (`javascript:`…). */
export function safeUrl(raw) {
  const url = String(raw ?? "").trim();
  if (!url || /[\s\u0000-\u001f\u007f]/.test(url)) return null;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  if (scheme && !/^https?$/i.test(scheme[1])) return null;
  return url;
}

/** Whether a safe address is on this origin (relative, or this origin spelled out). */
function sameOrigin(url) {
  if (!/^([a-z][a-z0-9+.-]*:|\/\/|\\\\)/i.test(url)) return true;
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch {
    return false;
  }
}

// --- Blocks ---------------------------------------------------------------------------------

function blocks(lines, depth, options) {
  if (depth > MAX_DEPTH) return [h("p", null, lines.join("\n"))];
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) {
      i += 1;
    } else if ((m = FENCE.exec(line))) {
      i = fenced(lines, i, m, out);
    } else if ((m = HEADING.exec(line))) {
      // The page's title is the h1: an article's `#` is the level below it.
      const level = Math.min(6, m[1].length + 1);
      out.push(h(`h${level}`, null, inline((m[2] || "").replace(/[ \t]+#+$/, ""), options)));
      i += 1;
    } else if (RULE.test(line)) {
      out.push(h("hr"));
      i += 1;
    } else if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].replace(/^ {0,3}> ?/, ""));
      out.push(h("blockquote", null, blocks(inner, depth + 1, options)));
    } else if (tableStarts(lines, i)) {
      i = table(lines, i, out, options);
    } else if (ITEM.test(line)) {
      i = list(lines, i, depth, out, options);
    } else {
      const text = [line.trim()];
      i += 1;
      while (i < lines.length && lines[i].trim() && !interrupts(lines, i)) text.push(lines[i++].trim());
      out.push(h("p", null, inline(text.join("\n"), options)));
    }
  }
  return out;
}

/** Whether line `i` starts a block that ends the paragraph above it. */
function interrupts(lines, i) {
  const line = lines[i];
  if (FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line)) return true;
  if (tableStarts(lines, i)) return true;
  // A numbered list interrupts a paragraph only from 1 (so "2019. was a year" stays text).
  const item = ITEM.exec(line);
  return Boolean(item && item[3] && (/^[-*+]$/.test(item[2]) || /^1[.)]$/.test(item[2])));
}

function fenced(lines, i, m, out) {
  const [, fence, info] = m;
  const indent = lines[i].length - lines[i].trimStart().length;
  const close = new RegExp(`^ {0,3}${fence[0] === "`" ? "`" : "~"}{${fence.length},}[ \\t]*$`);
  const code = [];
  i += 1;
  while (i < lines.length && !close.test(lines[i])) {
    code.push(lines[i].replace(new RegExp(`^ {0,${indent}}`), ""));
    i += 1;
  }
  const lang = /^[\w+#.-]{1,30}$/.test(info) ? info : null;
  out.push(h("pre", null, h("code", { dataset: lang ? { lang } : {} }, code.join("\n"))));
  return i + 1;
}

// --- Lists ----------------------------------------------------------------------------------

/**
 * A list from line `i`: its items, each with its text (continued on the lines below it) and
 * what is indented under it (a nested list, a code block), read as blocks of their own.
 */
function list(lines, i, depth, out, options) {
  const first = ITEM.exec(lines[i]);
  const base = first[1].length;
  const ordered = /\d/.test(first[2]);
  const items = [];
  while (i < lines.length) {
    const line = lines[i];
    const m = ITEM.exec(line);
    const indent = line.length - line.trimStart().length;
    if (m && indent <= base + 1) {
      if (/\d/.test(m[2]) !== ordered || RULE.test(line)) break;
      items.push({ text: [m[3] || ""], under: [] });
      i += 1;
      continue;
    }
    const item = items[items.length - 1];
    if (!line.trim()) {
      // A blank line ends the list unless more of it (an item, or indented text) follows.
      let j = i + 1;
      while (j < lines.length && !lines[j].trim()) j += 1;
      const next = lines[j];
      const more = next !== undefined && ((ITEM.test(next) && next.length - next.trimStart().length <= base + 1
        && /\d/.test(ITEM.exec(next)[2]) === ordered) || next.length - next.trimStart().length >= base + 2);
      if (!more) break;
      if (item.under.length) item.under.push("");
      i = j;
      continue;
    }
    if (indent >= base + 2) {
      const rest = line.slice(base + 2);
      if (item.under.length || ITEM.test(rest) || FENCE.test(rest) || QUOTE.test(rest) || HEADING.test(rest)) item.under.push(rest);
      else item.text.push(line.trim());
      i += 1;
      continue;
    }
    if (interrupts(lines, i)) break;
    // A line that is not indented carries on the item's text (lazily, as Markdown allows).
    if (item.under.length) item.under.push(line);
    else item.text.push(line.trim());
    i += 1;
  }
  const start = ordered ? Number.parseInt(first[2], 10) : 1;
  out.push(h(ordered ? "ol" : "ul", { start: ordered && start !== 1 ? start : null },
    items.map((item) => listItem(item, depth, options))));
  return i;
}

function listItem(item, depth, options) {
  let text = item.text.join("\n");
  const task = TASK.exec(text);
  if (task) text = text.slice(task[0].length);
  return h("li", { class: task ? "task-item" : null },
    task ? h("input", { type: "checkbox", disabled: true, checked: task[1] !== " ", tabindex: "-1" }) : null,
    task ? " " : null,
    inline(text, options),
    item.under.length ? blocks(item.under, depth + 1, options) : null);
}

// --- Tables ---------------------------------------------------------------------------------

function tableStarts(lines, i) {
  return i + 1 < lines.length && lines[i].includes("|") && lines[i + 1].includes("|") && TABLE_RULE.test(lines[i + 1]);
}

/** A row's cells: split at the pipes outside code spans that are not escaped, the outer ones dropped. */
function cells(line) {
  const text = line.trim();
  const out = [];
  let cell = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\\" && text[i + 1] === "|") {
      cell += "|";
      i += 1;
    } else if (ch === "`") {
      const run = runOf(text, i, "`");
      const end = closingTicks(text, i + run, run);
      const to = end < 0 ? i + run : end + run;
      cell += text.slice(i, to);
      i = to - 1;
    } else if (ch === "|") {
      if (i > 0) out.push(cell.trim());
      cell = "";
    } else {
      cell += ch;
    }
  }
  if (cell.trim() || !text.endsWith("|")) out.push(cell.trim());
  return out;
}

function table(lines, i, out, options) {
  const head = cells(lines[i]);
  const aligns = cells(lines[i + 1]).map((rule) =>
    (rule.startsWith(":") && rule.endsWith(":") ? "center" : rule.endsWith(":") ? "right" : rule.startsWith(":") ? "left" : null));
  const width = head.length;
  const align = (col) => (aligns[col] ? { align: aligns[col] } : {});
  i += 2;
  const rows = [];
  while (i < lines.length && lines[i].trim() && lines[i].includes("|") && !interrupts(lines, i)) rows.push(cells(lines[i++]));
  out.push(h("div", { class: "md-table" }, h("table", null,
    h("thead", null, h("tr", null, head.map((cell, col) => h("th", { dataset: align(col) }, inline(cell, options))))),
    rows.length ? h("tbody", null, rows.map((row) => h("tr", null,
      Array.from({ length: width }, (_, col) => h("td", { dataset: align(col) }, inline(row[col] || "", options)))))) : null)));
  return i;
}

// --- Inline ---------------------------------------------------------------------------------

/**
 * Inline Markdown as nodes. `noLinks` inside a link's text (a link in a link is text).
 * Emphasis whose closing mark is nowhere ahead is remembered, so a line of a thousand `*` is
 * read once, not a thousand times.
 */
function inline(text, options, { depth = 0, noLinks = false } = {}) {
  if (depth > MAX_DEPTH) return [text];
  const s = text;
  const out = [];
  const unclosed = new Set();
  let buf = "";
  const flush = () => {
    if (!buf) return;
    buf.replace(/[ \t]+\n/g, "\n").split("\n").forEach((part, n) => {
      if (n) out.push(h("br"));
      if (part) out.push(part);
    });
    buf = "";
  };
  const emit = (node) => {
    flush();
    out.push(node);
  };
  const nested = (inner, more = {}) => inline(inner, options, { depth: depth + 1, noLinks, ...more });
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === "\\" && i + 1 < s.length && PUNCTUATION.test(s[i + 1])) {
      buf += s[i + 1];
      i += 2;
    } else if (c === "`") {
      const run = runOf(s, i, "`");
      const end = closingTicks(s, i + run, run);
      if (end < 0) {
        buf += s.slice(i, i + run);
        i += run;
      } else {
        let code = s.slice(i + run, end).replace(/\n/g, " ");
        if (code.length > 2 && code.startsWith(" ") && code.endsWith(" ") && code.trim()) code = code.slice(1, -1);
        emit(h("code", null, code));
        i = end + run;
      }
    } else if (c === "!" && s[i + 1] === "[" && !noLinks) {
      const link = parseLink(s, i + 1);
      if (link) {
        emit(image(link, options));
        i = link.end;
      } else {
        buf += c;
        i += 1;
      }
    } else if (c === "[" && !noLinks) {
      const link = parseLink(s, i);
      const file = link && options.files ? FILE_TARGET.exec(link.url.trim()) : null;
      const href = link && !file && safeUrl(link.url);
      if (file) {
        emit(fileAnchor(Number(file[1]), link.title, nested(link.label, { noLinks: true }), options));
        i = link.end;
      } else if (link && href) {
        emit(anchor(href, link.title, nested(link.label, { noLinks: true })));
        i = link.end;
      } else if (link) {
        // An address that is not allowed: the text stays, without the link.
        emit(h("span", null, nested(link.label, { noLinks: true })));
        i = link.end;
      } else {
        buf += c;
        i += 1;
      }
    } else if (c === "<" && !noLinks && /^<https?:\/\/[^\s<>]+>/.test(s.slice(i))) {
      const url = /^<(https?:\/\/[^\s<>]+)>/.exec(s.slice(i))[1];
      emit(anchor(url, null, [url]));
      i += url.length + 2;
    } else if (c === "h" && !noLinks && !/[\w/]/.test(s[i - 1] || "") && BARE_URL.test(s.slice(i, i + 2048))) {
      // A bare address: trailing punctuation belongs to the sentence, not the address.
      const url = BARE_URL.exec(s.slice(i, i + 2048))[0].replace(/[.,;:!?)\]]+$/, "");
      emit(anchor(url, null, [url]));
      i += url.length;
    } else if (c === "*" || c === "_" || c === "~") {
      const run = runOf(s, i, c);
      const done = emphasis(s, i, c, run, unclosed, nested);
      if (done) {
        emit(done.node);
        i = done.end;
      } else {
        buf += s.slice(i, i + run);
        i += run;
      }
    } else {
      buf += c;
      i += 1;
    }
  }
  flush();
  return out;
}

function runOf(s, i, c) {
  let n = 0;
  while (s[i + n] === c) n += 1;
  return n;
}

/** Where a code span opened by `run` backticks closes (a run of exactly as many), or -1. */
function closingTicks(s, from, run) {
  let at = s.indexOf("`", from);
  while (at >= 0) {
    const n = runOf(s, at, "`");
    if (n === run) return at;
    at = s.indexOf("`", at + n);
  }
  return -1;
}

const isWord = (ch) => Boolean(ch) && /[\p{L}\p{N}]/u.test(ch);
const isSpace = (ch) => !ch || /\s/.test(ch);

/**
 * Emphasis opened at `i` by a run of `run` marks `c`: `***` bold italic, `**`/`__` bold,
 * `*`/`_` italic, `~~` struck through; `{node, end}` or null when it does not close. `_` does
 * not open or close inside a word (snake_case stays as it is).
 */
function emphasis(s, i, c, run, unclosed, nested) {
  if (isSpace(s[i + run])) return null;
  if (c === "_" && isWord(s[i - 1])) return null;
  const tries = c === "~" ? (run === 2 ? [2] : []) : run >= 3 ? [3, 2, 1] : run === 2 ? [2, 1] : [1];
  for (const n of tries) {
    const mark = c.repeat(n);
    if (unclosed.has(mark)) continue;
    // A run longer than the mark: the first marks of it stay as text, the last ones open.
    const extra = run - n;
    const end = closingMark(s, i + run + 1, mark, c);
    if (end < 0) {
      unclosed.add(mark);
      continue;
    }
    const inner = nested(s.slice(i + run, end));
    const node = c === "~" ? h("del", null, inner)
      : n === 3 ? h("strong", null, h("em", null, inner))
        : n === 2 ? h("strong", null, inner) : h("em", null, inner);
    return { node: extra ? [c.repeat(extra), node] : node, end: end + n };
  }
  return null;
}

/**
 * The next place at or after `from` where `mark` closes emphasis: not after a space, not inside
 * a code span, not escaped, and (for `_`) not inside a word; -1 when there is none.
 */
function closingMark(s, from, mark, c) {
  let i = from;
  while (i < s.length) {
    const ch = s[i];
    if (ch === "\\") {
      i += 2;
    } else if (ch === "`") {
      const run = runOf(s, i, "`");
      const end = closingTicks(s, i + run, run);
      i = end < 0 ? i + run : end + run;
    } else if (ch === c) {
      const run = runOf(s, i, c);
      // The closing marks end the run: `**bold***` closes bold with the last two.
      if (run >= mark.length && !isSpace(s[i - 1]) && !(c === "_" && isWord(s[i + run]))) {
        return i + run - mark.length;
      }
      i += run;
    } else {
      i += 1;
    }
  }
  return -1;
}

/**
 * `[label](url "title")` from `i` (at the `[`): `{label, url, title, end}`, or null. The label
 * may hold brackets in pairs; the address may be in `<…>` or hold parentheses in pairs.
 */
function parseLink(s, i) {
  let depth = 0;
  let j = i;
  const labelEnd = Math.min(s.length, i + MAX_LABEL);
  for (; j < labelEnd; j++) {
    const ch = s[j];
    if (ch === "\\") j += 1;
    else if (ch === "`") {
      const run = runOf(s, j, "`");
      const end = closingTicks(s, j + run, run);
      j = (end < 0 ? j + run : end + run) - 1;
    } else if (ch === "[") depth += 1;
    else if (ch === "]" && --depth === 0) break;
  }
  if (j >= labelEnd || s[j + 1] !== "(") return null;
  const label = s.slice(i + 1, j);
  let k = j + 2;
  while (s[k] === " ") k += 1;
  let url = "";
  if (s[k] === "<") {
    const close = s.indexOf(">", k);
    if (close < 0 || close - k > MAX_URL || s.slice(k, close).includes("\n")) return null;
    url = s.slice(k + 1, close);
    k = close + 1;
  } else {
    let parens = 0;
    const from = k;
    const urlEnd = Math.min(s.length, k + MAX_URL);
    for (; k < urlEnd; k++) {
      const ch = s[k];
      if (ch === "\\" && PUNCTUATION.test(s[k + 1] || "")) k += 1;
      else if (/\s/.test(ch)) break;
      else if (ch === "(") parens += 1;
      else if (ch === ")" && parens-- === 0) break;
    }
    url = s.slice(from, k).replace(/\\([!-/:-@[-`{-~])/g, "$1");
  }
  while (s[k] === " ") k += 1;
  let title = null;
  const quote = { '"': '"', "'": "'", "(": ")" }[s[k]];
  if (quote) {
    const close = s.indexOf(quote, k + 1);
    if (close < 0 || close - k > MAX_LABEL) return null;
    title = s.slice(k + 1, close);
    k = close + 1;
    while (s[k] === " ") k += 1;
  }
  if (s[k] !== ")") return null;
  return { label, url, title, end: k + 1 };
}

function anchor(href, title, children) {
  const external = !sameOrigin(href);
  return h("a", {
    href, title: title || null,
    target: external ? "_blank" : null, rel: external ? "noopener noreferrer nofollow" : null,
  }, children);
}

/** Give `el[attr]` the address `value`, or a promise's once it comes. */
function setAddress(el, attr, value) {
  if (value && typeof value.then === "function") value.then((u) => { el[attr] = u; }, () => {});
  else if (value) el[attr] = value;
}

/**
 * A link to the article's attachment `id`, opened beside the article. Its address may carry
 * the reader's access token, which expires: a click asks `options.files` afresh before going.
 */
function fileAnchor(id, title, children, options) {
  const link = h("a", { title: title || null, target: "_blank", rel: "noopener", dataset: { file: id } }, children);
  setAddress(link, "href", options.files(id));
  link.addEventListener("click", (e) => {
    if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    Promise.resolve(options.files(id)).then((url) => {
      link.href = url;
      h("a", { href: url, target: "_blank", rel: "noopener" }).click();
    }, () => {});
  });
  return link;
}

/**
 * An image on this origin is shown (its address through `options.image`), and an article's
 * attachment (`file:12`) through `options.files`; one elsewhere, which the page's policy would
 * refuse, is a link to it named by its description.
 */
function image(link, options) {
  const alt = link.label.replace(/\\([!-/:-@[-`{-~])/g, "$1");
  const file = options.files ? FILE_TARGET.exec(link.url.trim()) : null;
  if (file) {
    const img = h("img", { alt, title: link.title || null, loading: "lazy", dataset: { file: file[1] } });
    setAddress(img, "src", options.files(Number(file[1])));
    return img;
  }
  const url = safeUrl(link.url);
  if (!url) return h("span", { class: "md-image-blocked" }, alt);
  if (!sameOrigin(url)) return anchor(url, link.title, [icon("image", { size: 14 }), " ", alt || url]);
  const img = h("img", { alt, title: link.title || null, loading: "lazy" });
  setAddress(img, "src", options.image ? options.image(url) : url);
  return img;
}
