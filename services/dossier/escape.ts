/**
 * Every value reaches a dossier page through one of these, at the point of output: the records are
 * checked when read (fields.ts), but a page never trusts that a string holds what its field promises.
 */

/** HTML text or a double-quoted attribute value. */
export const escapeHtml = (v: string | number): string =>
  String(v)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

/**
 * Markdown inline text, also inside a table cell: one line (line breaks become ", "), and every
 * character that could open emphasis, code, a link or image, raw HTML, an entity, a heading, a
 * strikethrough or a cell boundary backslash-escaped (CommonMark and GFM escape any ASCII punctuation).
 */
export const escapeMarkdown = (v: string | number): string =>
  String(v)
    .replace(/\s*[\r\n]\s*/g, ', ')
    .replace(/[\\`*_{}[\]()<>&|~#!]/g, '\\$&');
