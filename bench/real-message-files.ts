import { type Corpus, messageFiles, spamAssassinDir } from '../test/helpers/corpus.js';

/** Up to `n` real message files for the benchmarks that want many: openwrt-devel, then
 * cake, then the SpamAssassin sample, in that order so every run takes the same ones. */
export async function realMessageFiles(corpus: Corpus, n: number): Promise<string[]> {
  return [
    ...(await messageFiles(await corpus.unpack('openwrt-devel'))),
    ...(await messageFiles(await corpus.unpack('cake'))),
    ...(await messageFiles(spamAssassinDir)),
  ].slice(0, n);
}
