package io.stellane.dashboard;

/**
 * Log-linear latency buckets over counts kept in plain {@code long} arrays: one bucket per 1.024 µs
 * below 8.2 µs, then eight per power of two (each at most an eighth of its lower bound wide) up to
 * about 68.7 s; anything longer lands in the last bucket. A percentile is reported as its bucket's
 * midpoint, so within 6.25 % of any value in that bucket.
 *
 * <p>Stateless; every method may be called from any thread.
 */
final class LatencyBuckets {
    /** Buckets per power of two. */
    private static final int SUB = 8;
    /** Nanoseconds to units of 1.024 µs: nothing a server answers in is shorter. */
    private static final int SHIFT = 10;
    static final int COUNT = 192;

    private LatencyBuckets() {
    }

    /** The bucket of {@code nanos} (negative reads as 0). */
    static int index(long nanos) {
        long u = Math.max(0, nanos) >>> SHIFT;
        if (u < SUB) {
            return (int) u;
        }
        int e = 63 - Long.numberOfLeadingZeros(u); // u in [2^e, 2^(e+1)), e >= 3
        int i = SUB * (e - 2) + (int) ((u >>> (e - 3)) - SUB);
        return Math.min(i, COUNT - 1);
    }

    /** The smallest duration in bucket {@code i}, in nanoseconds. */
    static long lowerNanos(int i) {
        if (i < SUB) {
            return (long) i << SHIFT;
        }
        int e = i / SUB + 2;
        int sub = i % SUB;
        return ((long) (SUB + sub) << (e - 3)) << SHIFT;
    }

    /** The value a percentile falling in bucket {@code i} reports: its midpoint (the last bucket has no end: its start). */
    static long representativeNanos(int i) {
        return i == COUNT - 1 ? lowerNanos(i) : (lowerNanos(i) + lowerNanos(i + 1)) / 2;
    }

    /**
     * The {@code q} quantile (0..1) of the counts in {@code counts[from .. from + COUNT)}, in nanoseconds;
     * -1 when they are all zero. The nearest-rank definition: the smallest bucket holding at least
     * {@code ceil(q * total)} of the values.
     */
    static long percentileNanos(long[] counts, int from, double q) {
        long total = 0;
        for (int i = 0; i < COUNT; i++) {
            total += counts[from + i];
        }
        if (total == 0) {
            return -1;
        }
        long rank = Math.max(1, (long) Math.ceil(q * total));
        long seen = 0;
        for (int i = 0; i < COUNT; i++) {
            seen += counts[from + i];
            if (seen >= rank) {
                return representativeNanos(i);
            }
        }
        return representativeNanos(COUNT - 1); // not reached: seen ends at total
    }
}
