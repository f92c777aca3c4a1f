package io.stellane.dashboard;

import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Percentage.withPercentage;

class LatencyBucketsTest {

    @Test
    void everyDurationFallsInTheBucketThatSpansIt() {
        long prevIndex = 0;
        for (long v = 0; v < 70_000_000_000L; v = v < 4096 ? v + 1 : v + v / 97) {
            int i = LatencyBuckets.index(v);
            assertThat(i).as("index of %d", v).isBetween(0, LatencyBuckets.COUNT - 1).isGreaterThanOrEqualTo((int) prevIndex);
            prevIndex = i;
            assertThat(LatencyBuckets.lowerNanos(i)).as("bucket %d starts at or below %d", i, v).isLessThanOrEqualTo(v);
            if (i < LatencyBuckets.COUNT - 1) {
                assertThat(LatencyBuckets.lowerNanos(i + 1)).as("bucket %d ends above %d", i, v).isGreaterThan(v);
            }
        }
        assertThat(LatencyBuckets.index(-5)).isZero();
        assertThat(LatencyBuckets.index(Long.MAX_VALUE)).isEqualTo(LatencyBuckets.COUNT - 1);
    }

    @Test
    void bucketsAreContiguousAndAtMostAnEighthOfTheirStartWide() {
        for (int i = 0; i < LatencyBuckets.COUNT - 1; i++) {
            long lo = LatencyBuckets.lowerNanos(i), hi = LatencyBuckets.lowerNanos(i + 1);
            assertThat(hi).isGreaterThan(lo);
            assertThat(LatencyBuckets.index(lo)).isEqualTo(i);
            assertThat(LatencyBuckets.index(hi - 1)).isEqualTo(i);
            if (i >= 8) {
                assertThat(hi - lo).isLessThanOrEqualTo(lo / 8);
            }
        }
        // the top bucket starts past a minute
        assertThat(LatencyBuckets.lowerNanos(LatencyBuckets.COUNT - 1)).isGreaterThan(TimeUnit.SECONDS.toNanos(60));
    }

    @Test
    void percentilesOfAKnownSpreadAreWithinTheBucketPrecision() {
        long[] counts = new long[LatencyBuckets.COUNT];
        // 1 ms, 2 ms, ... 1000 ms, once each
        for (int ms = 1; ms <= 1000; ms++) {
            counts[LatencyBuckets.index(TimeUnit.MILLISECONDS.toNanos(ms))]++;
        }
        assertThat(LatencyBuckets.percentileNanos(counts, 0, 0.50) / 1e6).isCloseTo(500, withPercentage(6.25));
        assertThat(LatencyBuckets.percentileNanos(counts, 0, 0.99) / 1e6).isCloseTo(990, withPercentage(6.25));
        assertThat(LatencyBuckets.percentileNanos(counts, 0, 0.0) / 1e6).isCloseTo(1, withPercentage(6.25));
        assertThat(LatencyBuckets.percentileNanos(counts, 0, 1.0) / 1e6).isCloseTo(1000, withPercentage(6.25));
    }

    @Test
    void aFewSlowRequestsAmongManyFastOnesShowInTheP99OnlyWhenTheyAreOverOnePercent() {
        long[] counts = new long[LatencyBuckets.COUNT + 3];
        int from = 3; // the counts may start anywhere in an array
        for (int i = 0; i < 985; i++) {
            counts[from + LatencyBuckets.index(50_000)]++; // 50 µs
        }
        for (int i = 0; i < 15; i++) {
            counts[from + LatencyBuckets.index(TimeUnit.MILLISECONDS.toNanos(800))]++;
        }
        assertThat(LatencyBuckets.percentileNanos(counts, from, 0.50) / 1e3).isCloseTo(50, withPercentage(6.25));
        assertThat(LatencyBuckets.percentileNanos(counts, from, 0.99) / 1e6).isCloseTo(800, withPercentage(6.25));
        counts[from + LatencyBuckets.index(TimeUnit.MILLISECONDS.toNanos(800))] = 5; // now 0.5 %
        assertThat(LatencyBuckets.percentileNanos(counts, from, 0.99) / 1e3).isCloseTo(50, withPercentage(6.25));
    }

    @Test
    void randomDurationsReportWithinSixAndAQuarterPercent() {
        Random random = new Random(42);
        for (int n = 0; n < 10_000; n++) {
            long v = 10_000 + (long) (random.nextDouble() * random.nextDouble() * 30_000_000_000L);
            long[] counts = new long[LatencyBuckets.COUNT];
            counts[LatencyBuckets.index(v)] = 1;
            assertThat((double) LatencyBuckets.percentileNanos(counts, 0, 0.5)).isCloseTo(v, withPercentage(6.25));
        }
    }

    @Test
    void noValuesHaveNoPercentile() {
        assertThat(LatencyBuckets.percentileNanos(new long[LatencyBuckets.COUNT], 0, 0.5)).isEqualTo(-1);
    }
}
