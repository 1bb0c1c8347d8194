/** Token buckets (pure; the clock is a parameter), keyed by API key id or client address. */
export interface BucketVerdict {
  allowed: boolean;
  /** Tokens left after this request (floored). */
  remaining: number;
  /** Whole seconds until a token is available again (≥ 1 when refused). */
  retryAfter: number;
  /** Whole seconds until the bucket is full again. */
  resetSeconds: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly rps: number,
    readonly burst: number,
    private readonly now: () => number,
    private readonly maxKeys = 100_000,
  ) {}

  take(key: string, cost = 1): BucketVerdict {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      // Bounded memory: a flood of distinct addresses cannot grow the map without limit.
      if (this.buckets.size >= this.maxKeys) this.prune(t);
      b = { tokens: this.burst, at: t };
      this.buckets.set(key, b);
    }
    // max(0, …): a clock stepping backwards must not drain the bucket (it would lock a key out).
    b.tokens = Math.min(this.burst, b.tokens + (Math.max(0, t - b.at) / 1000) * this.rps);
    b.at = t;
    const allowed = b.tokens >= cost;
    if (allowed) b.tokens -= cost;
    const missing = Math.max(0, cost - b.tokens);
    return {
      allowed,
      remaining: Math.floor(b.tokens),
      retryAfter: allowed ? 0 : Math.max(1, Math.ceil(missing / this.rps)),
      resetSeconds: Math.ceil((this.burst - b.tokens) / this.rps),
    };
  }

  /** Refuses without taking a token (used to check an address before trying its key). */
  peek(key: string): boolean {
    const b = this.buckets.get(key);
    if (!b) return true;
    return Math.min(this.burst, b.tokens + (Math.max(0, this.now() - b.at) / 1000) * this.rps) >= 1;
  }

  private prune(t: number) {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.rps >= this.burst) this.buckets.delete(k);
    }
    if (this.buckets.size >= this.maxKeys) this.buckets.clear();
  }
}

/** IETF RateLimit / RateLimit-Policy headers (draft-ietf-httpapi-ratelimit-headers, structured fields). */
export function rateLimitHeaders(policy: string, b: { rps: number; burst: number }, v: BucketVerdict): Record<string, string> {
  const window = Math.max(1, Math.ceil(b.burst / b.rps));
  const h: Record<string, string> = {
    'RateLimit-Policy': `"${policy}";q=${b.burst};w=${window}`,
    RateLimit: `"${policy}";r=${v.remaining};t=${v.allowed ? v.resetSeconds : v.retryAfter}`,
  };
  if (!v.allowed) h['Retry-After'] = String(v.retryAfter);
  return h;
}
