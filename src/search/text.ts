/**
 * Text prepared for FTS5's unicode61 tokenizer, at index time and at query time alike.
 * unicode61 splits on spaces and punctuation only, so a run of Chinese or Japanese (no
 * spaces) would be one huge token. Intl.Segmenter (ICU's dictionary word breaker, built
 * into Node) cuts such runs into words first; we put spaces between them. The trigram
 * tokenizer was the alternative: it finds any substring of 3+ characters, but not the
 * many 2-character CJK words, ranks worse, and makes the index several times larger.
 */

/** Han, Hiragana, Katakana, Hangul (Korean has spaces but its words are long runs too). */
const cjkRun = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}ー々]+/gu;
let segmenter: Intl.Segmenter | undefined;

/** The text with spaces between the words of every CJK run; other text unchanged. */
export function segmentCjk(text: string): string {
  if (!/[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]/.test(text)) return text;
  segmenter ??= new Intl.Segmenter('ja', { granularity: 'word' });
  const seg = segmenter;
  return text.replace(cjkRun, (run) => {
    const words: string[] = [];
    for (const s of seg.segment(run)) if (s.segment.trim() !== '') words.push(s.segment);
    return ` ${words.join(' ')} `;
  });
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
