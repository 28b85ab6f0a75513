/**
 * The bucket of a stickiness key: a 32-bit FNV-1a hash of `rollout + '\0' + key`, finished with
 * murmur3's fmix32 so that near-identical keys (`user-1`, `user-2`) spread over the whole range.
 * Non-cryptographic on purpose: it only has to be fast and uniform, and the arm it picks is
 * public anyway.
 */
export function bucketOf(rollout: string, key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < rollout.length; i++) {
    h ^= rollout.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // The separator keeps `ab` + `c` and `a` + `bc` apart.
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 2^32: a bucket divided by this is its point in [0, 1). */
export const BUCKETS = 0x1_0000_0000;
