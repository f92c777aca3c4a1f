package io.stellane.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** The meters the server, recovery and durable tasks report through: tags, values, caching. No runtime needed. */
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

        http.requestCompleted("/orders", "POST", 201, -1); // counted, not timed
        PrometheusText p = PrometheusText.parse(metrics.scrape());
        String n = "stellane_http_server_requests_total";
        String l = "stellane_http_server_latency_seconds";
        assertThat(p.valueOrNaN(n, "route", "/users/{id}", "method", "GET", "status", "200", "outcome", "SUCCESS")).isEqualTo(3);
        assertThat(p.valueOrNaN(l + "_sum", "route", "/users/{id}", "method", "GET", "status", "200")).isCloseTo(0.015, within(1e-9));
        assertThat(p.valueOrNaN(n, "route", "/users/{id}", "method", "GET", "status", "404", "outcome", "CLIENT_ERROR")).isEqualTo(1);
        assertThat(p.valueOrNaN(n, "route", "/orders", "method", "POST", "status", "201")).isEqualTo(3);
        assertThat(p.valueOrNaN(l + "_count", "route", "/orders", "method", "POST", "status", "201")).isEqualTo(2);
        assertThat(p.valueOrNaN(l + "_sum", "route", "/orders", "method", "POST", "status", "201")).isCloseTo(0.060, within(1e-9));
        assertThat(p.valueOrNaN(l + "_max", "route", "/orders", "method", "POST", "status", "201")).isCloseTo(0.040, within(1e-9));
        assertThat(p.valueOrNaN(n, "route", "NOT_FOUND", "status", "404")).isEqualTo(1);
        assertThat(p.valueOrNaN(n, "route", "/boom", "outcome", "SERVER_ERROR")).isEqualTo(1);
        assertThat(p.find(n)).hasSize(5);
        // cumulative buckets: 25 ms holds the 20 ms request, 50 ms both timed ones
        assertThat(p.valueOrNaN(l + "_bucket", "route", "/orders", "le", "0.025")).isEqualTo(1);
        assertThat(p.valueOrNaN(l + "_bucket", "route", "/orders", "le", "0.05")).isEqualTo(2);
        assertThat(p.valueOrNaN(l + "_bucket", "route", "/orders", "le", "+Inf")).isEqualTo(2);

    }

    @Test
    void aRouteMethodStatusKeepsOneTimerAndTheRegistryIsNotAskedAgain() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        metrics = StellaneMetrics.bind(registry);
        HttpMetrics http = metrics.http();
        assertThat(metrics.http()).isSameAs(http);
        http.requestCompleted("/a", "GET", 200, MS);
        Counter first = registry.get("stellane.http.server.requests").tag("route", "/a").counter();
        Timer firstLatency = registry.get("stellane.http.server.latency").tag("route", "/a").timer();
        int meters = registry.getMeters().size();
        for (int i = 0; i < 1000; i++) {
            http.requestCompleted("/a", "GET", 200, MS);
        }
        assertThat(registry.getMeters()).hasSize(meters);
        assertThat(registry.get("stellane.http.server.requests").tag("route", "/a").counter()).isSameAs(first);
        assertThat(registry.get("stellane.http.server.latency").tag("route", "/a").timer()).isSameAs(firstLatency);
        assertThat(first.count()).isEqualTo(1001);
        assertThat(firstLatency.totalTime(TimeUnit.MILLISECONDS)).isCloseTo(1001, within(1e-6));
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
        assertThat(registry.find("stellane.http.server.requests").counters()).hasSize(MicrometerHttpMetrics.MAX_ROUTES + 1);
        assertThat(registry.get("stellane.http.server.requests").tag("route", MicrometerHttpMetrics.OVERFLOW_ROUTE).counter().count())
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

    @Test
    void durableTaskEventsAndGaugesAreExportedAndLeaveTheRegistryAtClose() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        metrics = StellaneMetrics.bind(registry);
        DurableTaskMetrics tasks = metrics.durableTasks();
        assertThat(metrics.durableTasks()).isSameAs(tasks);
        for (int i = 0; i < 4; i++) {
            tasks.submitted();
        }
        tasks.claimed();
        tasks.claimed();
        tasks.completed();
        tasks.failedAttempt();
        tasks.quarantined();
        long[] now = {3, 7};
        tasks.running(() -> now[0]);
        tasks.ready(() -> now[1]);
        assertThat(registry.get("stellane.durable.tasks.submitted").counter().count()).isEqualTo(4);
        assertThat(registry.get("stellane.durable.tasks.claimed").counter().count()).isEqualTo(2);
        assertThat(registry.get("stellane.durable.tasks.completed").counter().count()).isEqualTo(1);
        assertThat(registry.get("stellane.durable.tasks.failed").counter().count()).isEqualTo(1);
        assertThat(registry.get("stellane.durable.tasks.quarantined").counter().count()).isEqualTo(1);
        assertThat(registry.get("stellane.durable.tasks.running").gauge().value()).isEqualTo(3);
        assertThat(registry.get("stellane.durable.tasks.ready").gauge().value()).isEqualTo(7);
        now[1] = 0;
        assertThat(registry.get("stellane.durable.tasks.ready").gauge().value()).isZero();

        metrics.close();
        metrics = null;
        assertThat(registry.find("stellane.durable.tasks.submitted").meters()).isEmpty();
        assertThat(registry.find("stellane.durable.tasks.running").meters()).isEmpty();
    }

    @Test
    void durableTaskMetersHaveTheirPrometheusNames() {
        metrics = StellaneMetrics.prometheus();
        metrics.durableTasks().completed();
        metrics.durableTasks().running(() -> 2);
        PrometheusText p = PrometheusText.parse(metrics.scrape());
        assertThat(p.valueOrNaN("stellane_durable_tasks_completed_total")).isEqualTo(1);
        assertThat(p.valueOrNaN("stellane_durable_tasks_failed_total")).isZero();
        assertThat(p.valueOrNaN("stellane_durable_tasks_running")).isEqualTo(2);
        assertThat(p.valueOrNaN("stellane_durable_tasks_ready")).isZero();
    }
}
