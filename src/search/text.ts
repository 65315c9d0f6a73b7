/**
 * Text prepared for FTS5's unicode61 tokenizer, at index time and at query time alike.
 * unicode61 splits on spaces and punctuation only, so a run of Chinese or Japanese (no
 * spaces) would be one huge token that no query word matches. Every Han, Kana and Hangul
 * character becomes a token of its own here, and a query's CJK word becomes the phrase
 * of its characters: FTS5's phrase match then finds exactly the messages containing that
 * sequence of characters (what a substring search would find), at any word boundary.
 *
 * Intl.Segmenter was tried first: the ICU in Node 20 and 26 alike has no Chinese
 * dictionary and splits Han text into single characters anyway, while its Japanese
 * splits ('ルー|ター') change with the ICU version, so an index built by one Node could
 * miss queries segmented by another. The trigram tokenizer finds substrings too but not
 * 1- or 2-character words (most Chinese words), and its index is several times larger.
 */

const cjkChar = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}ー々〆]/gu;
const anyCjk = /[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\u{20000}-\u{3134f}]/u;

/** The text with every CJK character set apart by spaces; other text unchanged. */
export function segmentCjk(text: string): string {
  if (!anyCjk.test(text)) return text;
  return text.replace(cjkChar, (c) => ` ${c} `);
}

/**
 * The tokens FTS5 (unicode61, remove_diacritics 2) would make of a query word, for
 * building the query only: letters and digits runs, lower-cased, without diacritics.
 * The index itself is tokenized by SQLite.
 */
export function queryTokens(text: string): string[] {
  return segmentCjk(text)
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t !== '');
}
