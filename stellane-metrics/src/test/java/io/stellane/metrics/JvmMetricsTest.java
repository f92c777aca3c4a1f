package io.stellane.metrics;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.DoubleSupplier;

import static org.assertj.core.api.Assertions.assertThat;

class JvmMetricsTest {
    @Test
    void bindsTheJvmAndProcessFamilies() {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        try (JvmMetrics jvm = JvmMetrics.bind(registry)) {
            PrometheusText text = PrometheusText.parse(registry.scrape());
            assertThat(text.find("jvm_memory_used_bytes", "area", "heap")).isNotEmpty();
            assertThat(text.find("jvm_gc_memory_allocated_bytes_total")).isNotEmpty();
            assertThat(text.valueOrNaN("jvm_threads_live_threads")).isPositive();
            assertThat(text.valueOrNaN("jvm_classes_loaded_classes")).isPositive();
            assertThat(text.valueOrNaN("system_cpu_count")).isEqualTo(java.lang.Runtime.getRuntime().availableProcessors());
            assertThat(text.find("process_cpu_usage")).isNotEmpty();
            assertThat(text.valueOrNaN("process_uptime_seconds")).isPositive();
            assertThat(text.valueOrNaN("process_files_open_files")).isPositive();
        } finally {
            registry.close();
        }
    }

    @Test
    void closingStopsCountingCollections() {
        PrometheusMeterRegistry closed = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        PrometheusMeterRegistry control = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        JvmMetrics jvm = JvmMetrics.bind(closed);
        try (JvmMetrics stillOpen = JvmMetrics.bind(control)) {
            System.gc();
            awaitAbove(() -> pauses(closed), 0);
            jvm.close();
            jvm.close(); // idempotent
            double before = pauses(closed);
            double controlBefore = pauses(control);
            System.gc();
            // the open binder hears of the collection; the closed one no longer listens
            awaitAbove(() -> pauses(control), controlBefore);
            assertThat(pauses(closed)).isEqualTo(before);
        } finally {
            jvm.close();
            closed.close();
            control.close();
        }
    }

    /** Collections seen so far: the sum of {@code jvm_gc_pause_seconds_count} over collectors and causes. */
    private static double pauses(PrometheusMeterRegistry registry) {
        return PrometheusText.parse(registry.scrape()).find("jvm_gc_pause_seconds_count").stream()
                .mapToDouble(PrometheusText.Sample::value).sum();
    }

    private static void awaitAbove(DoubleSupplier value, double floor) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (value.getAsDouble() <= floor) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("no collection reported within 30 s");
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
    }
}
