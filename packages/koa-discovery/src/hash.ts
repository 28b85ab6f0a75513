/**
 * FNV-1a over the UTF-16 code units of `text`, finished with murmur3's fmix32 avalanche so that
 * near-identical inputs (`a#1`, `a#2`) land far apart on a hash ring. Returns an unsigned 32-bit
 * integer.
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
