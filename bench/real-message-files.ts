import { type Corpus, messageFiles, spamAssassinDir } from '../test/helpers/corpus.js';

/** Up to `n` real message files for the benchmarks that want many: openwrt-devel, then
 * cake, then the SpamAssassin sample, then the nasty set, in that order so every run takes
 * the same ones (and a smaller `n` the same ones as before the nasty set was added). The
 * first three hold 14,914 messages; the nasty set takes the total past the 15,000 the
 * search benchmark is asked for. */
export async function realMessageFiles(corpus: Corpus, n: number): Promise<string[]> {
  const files = [
    ...(await messageFiles(await corpus.unpack('openwrt-devel'))),
    ...(await messageFiles(await corpus.unpack('cake'))),
    ...(await messageFiles(spamAssassinDir)),
  ];
  if (files.length < n) files.push(...(await messageFiles(await corpus.unpack('nasty'))));
  return files.slice(0, n);
}
