package io.stellane.metrics;

import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** The meters the server and recovery layers report through: tags, values, caching. No runtime needed. */
class HttpAndRecoveryMetricsTest {
    private StellaneMetrics metrics;

    @AfterEach
    void tearDown() {
        if (metrics != null) {
            metrics.close();
        }
    }

    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

    @Test
    void requestsAreTimedByRouteMethodAndStatusWithAHistogram() {
        metrics = StellaneMetrics.prometheus();
        HttpMetrics http = metrics.http();
        for (int i = 0; i < 3; i++) {
            http.requestCompleted("/users/{id}", "GET", 200, 5 * MS);
        }
        http.requestCompleted("/users/{id}", "GET", 404, MS);
        http.requestCompleted("/orders", "POST", 201, 20 * MS);
        http.requestCompleted("/orders", "POST", 201, 40 * MS);
        http.requestCompleted(null, "GET", 404, MS);
        http.requestCompleted("/boom", "GET", 503, 2 * MS);

        PrometheusText p = PrometheusText.parse(metrics.scrape());
        String n = "stellane_http_server_requests_seconds";
        assertThat(p.valueOrNaN(n + "_count", "route", "/users/{id}", "method", "GET", "status", "200", "outcome", "SUCCESS")).isEqualTo(3);
        assertThat(p.valueOrNaN(n + "_sum", "route", "/users/{id}", "method", "GET", "status", "200")).isCloseTo(0.015, within(1e-9));
        assertThat(p.valueOrNaN(n + "_count", "route", "/users/{id}", "method", "GET", "status", "404", "outcome", "CLIENT_ERROR")).isEqualTo(1);
        assertThat(p.valueOrNaN(n + "_count", "route", "/orders", "method", "POST", "status", "201")).isEqualTo(2);
        assertThat(p.valueOrNaN(n + "_sum", "route", "/orders", "method", "POST", "status", "201")).isCloseTo(0.060, within(1e-9));
        assertThat(p.valueOrNaN(n + "_max", "route", "/orders", "method", "POST", "status", "201")).isCloseTo(0.040, within(1e-9));
        assertThat(p.valueOrNaN(n + "_count", "route", "NOT_FOUND", "status", "404")).isEqualTo(1);
        assertThat(p.valueOrNaN(n + "_count", "route", "/boom", "outcome", "SERVER_ERROR")).isEqualTo(1);
        assertThat(p.find(n + "_count")).hasSize(5);

    }

    @Test
    void oneRequestInSixteenFeedsTheLatencyHistogram() {
        metrics = StellaneMetrics.prometheus();
        HttpMetrics http = metrics.http();
        int sample = MicrometerHttpMetrics.LATENCY_SAMPLE;
        for (int i = 0; i < 4 * sample; i++) {
            http.requestCompleted("/lat", "GET", 200, (i < 2 * sample ? 20 : 400) * MS);
        }
        PrometheusText p = PrometheusText.parse(metrics.scrape());
        String l = "stellane_http_server_latency_seconds";
        assertThat(p.valueOrNaN("stellane_http_server_requests_seconds_count", "route", "/lat")).isEqualTo(4 * sample);
        assertThat(p.valueOrNaN(l + "_count", "route", "/lat", "method", "GET", "status", "200")).isEqualTo(4);
        // cumulative buckets: 25 ms holds the two sampled 20 ms requests, 500 ms all four
        assertThat(p.valueOrNaN(l + "_bucket", "route", "/lat", "le", "0.025")).isEqualTo(2);
        assertThat(p.valueOrNaN(l + "_bucket", "route", "/lat", "le", "0.5")).isEqualTo(4);
        assertThat(p.valueOrNaN(l + "_bucket", "route", "/lat", "le", "+Inf")).isEqualTo(4);
    }

    @Test
    void aRouteMethodStatusKeepsOneTimerAndTheRegistryIsNotAskedAgain() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        metrics = StellaneMetrics.bind(registry);
        HttpMetrics http = metrics.http();
        assertThat(metrics.http()).isSameAs(http);
        for (int i = 0; i < MicrometerHttpMetrics.LATENCY_SAMPLE; i++) { // until the sampled latency timer exists too
            http.requestCompleted("/a", "GET", 200, MS);
        }
        Timer first = registry.get("stellane.http.server.requests").tag("route", "/a").timer();
        int meters = registry.getMeters().size();
        for (int i = 0; i < 1000; i++) {
            http.requestCompleted("/a", "GET", 200, MS);
        }
        assertThat(registry.getMeters()).hasSize(meters);
        assertThat(registry.get("stellane.http.server.requests").tag("route", "/a").timer()).isSameAs(first);
        long n = 1000 + MicrometerHttpMetrics.LATENCY_SAMPLE;
        assertThat(first.count()).isEqualTo(n);
        assertThat(first.totalTime(TimeUnit.MILLISECONDS)).isCloseTo(n, within(1e-6));
    }

    @Test
    void rawPathsBeyondTheRouteLimitFoldIntoOneSeries() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        metrics = StellaneMetrics.bind(registry);
        HttpMetrics http = metrics.http();
        int extra = 25;
        for (int i = 0; i < MicrometerHttpMetrics.MAX_ROUTES + extra; i++) {
            http.requestCompleted("/items/" + i, "GET", 200, MS);
        }
        assertThat(registry.find("stellane.http.server.requests").timers()).hasSize(MicrometerHttpMetrics.MAX_ROUTES + 1);
        assertThat(registry.get("stellane.http.server.requests").tag("route", MicrometerHttpMetrics.OVERFLOW_ROUTE).timer().count())
                .isEqualTo(extra);
    }

    @Test
    void connectionsAreCountedAndTheOpenOnesGauged() {
        metrics = StellaneMetrics.prometheus();
        HttpMetrics http = metrics.http();
        http.connectionOpened();
        http.connectionOpened();
        http.connectionOpened();
        http.connectionClosed();
        PrometheusText p = PrometheusText.parse(metrics.scrape());
        assertThat(p.valueOrNaN("stellane_http_server_connections_opened_total")).isEqualTo(3);
        assertThat(p.valueOrNaN("stellane_http_server_connections_active")).isEqualTo(2);
    }

    @Test
    void recoveryEventsAndJournalSizeAreExported() {
        metrics = StellaneMetrics.prometheus();
        RecoveryMetrics recovery = metrics.recovery();
        assertThat(metrics.recovery()).isSameAs(recovery);
        for (int i = 0; i < 5; i++) {
            recovery.journaled();
        }
        recovery.completed();
        recovery.completed();
        recovery.completed();
        recovery.recovered();
        recovery.failed();
        recovery.failed();
        recovery.quarantined();
        long[] size = {4096};
        recovery.journalBytes(() -> size[0]);

        PrometheusText p = PrometheusText.parse(metrics.scrape());
        assertThat(p.valueOrNaN("stellane_recovery_journaled_total")).isEqualTo(5);
        assertThat(p.valueOrNaN("stellane_recovery_completed_total")).isEqualTo(3);
        assertThat(p.valueOrNaN("stellane_recovery_recovered_total")).isEqualTo(1);
        assertThat(p.valueOrNaN("stellane_recovery_failed_total")).isEqualTo(2);
        assertThat(p.valueOrNaN("stellane_recovery_quarantined_total")).isEqualTo(1);
        assertThat(p.valueOrNaN("stellane_recovery_journal_size_bytes")).isEqualTo(4096);
        size[0] = 8192;
        assertThat(PrometheusText.parse(metrics.scrape()).valueOrNaN("stellane_recovery_journal_size_bytes")).isEqualTo(8192);
    }
}
