package io.stellane.metrics;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static io.stellane.runtime.testing.RuntimeFixture.config;
import static io.stellane.runtime.testing.RuntimeFixture.eventually;
import static io.stellane.runtime.testing.RuntimeFixture.holdWorker;
import static io.stellane.runtime.testing.RuntimeFixture.spin;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/** The runtime as Prometheus sees it: each meter checked against counts the test keeps itself. */
class StellaneMetricsTest {
    private StellaneMetrics metrics;

    @AfterEach
    void tearDown() {
        if (metrics != null) {
            metrics.close();
        }
        Runtime.enableProfiling(false);
        Runtime.stop();
    }

    private PrometheusText scrape() {
        return PrometheusText.parse(metrics.scrape());
    }

    /** Schedules {@code ok} succeeding and {@code failing} failing tasks on {@code worker}; returns once all ran. */
    private static void runTasks(int worker, int ok, int failing) {
        CountDownLatch ran = new CountDownLatch(ok + failing);
        for (int i = 0; i < ok + failing; i++) {
            boolean fail = i < failing;
            Runtime.scheduleOnWorker(Task.of(() -> {
                ran.countDown();
                if (fail) {
                    throw new IllegalStateException("scripted failure");
                }
            }), worker);
        }
        await(ran);
    }

    @Test
    void runtimeAndWorkerCountersFollowAScriptedLoad() {
        Runtime.init(config("nio", 2).build());
        metrics = StellaneMetrics.prometheus();
        runTasks(0, 30, 4);
        runTasks(1, 12, 9);

        eventually("runtime counters reach 55 executed, 13 failed", () -> {
            PrometheusText p = scrape();
            return p.valueOrNaN("stellane_tasks_executed_total") == 55 && p.valueOrNaN("stellane_tasks_failed_total") == 13;
        });
        eventually("worker counters reach the per-worker counts", () -> {
            PrometheusText p = scrape();
            return p.valueOrNaN("stellane_worker_tasks_executed_total", "worker", "0") == 34
                    && p.valueOrNaN("stellane_worker_tasks_failed_total", "worker", "0") == 4
                    && p.valueOrNaN("stellane_worker_tasks_executed_total", "worker", "1") == 21
                    && p.valueOrNaN("stellane_worker_tasks_failed_total", "worker", "1") == 9;
        });
        PrometheusText p = scrape();
        assertThat(p.valueOrNaN("stellane_runtime_workers")).isEqualTo(2);
        assertThat(p.valueOrNaN("stellane_runtime_running")).isEqualTo(1);
        assertThat(p.valueOrNaN("stellane_runtime_uptime_seconds")).isPositive();
        assertThat(p.valueOrNaN("stellane_tasks_active")).isZero();
        assertThat(p.valueOrNaN("stellane_worker_tasks_stolen_total", "worker", "0")).isZero();
        assertThat(p.find("stellane_worker_tasks_executed_total")).hasSize(2);
    }

    @Test
    void queueDepthActiveTasksAndPeaksShowABacklog() {
        Runtime.init(config("nio", 2).build());
        metrics = StellaneMetrics.prometheus();
        CountDownLatch release = holdWorker(1);
        CountDownLatch ran = new CountDownLatch(6);
        for (int i = 0; i < 6; i++) {
            Runtime.scheduleOnWorker(Task.of(ran::countDown), 1);
        }
        eventually("worker 1 shows 6 queued tasks", () -> scrape().valueOrNaN("stellane_worker_queue_depth", "worker", "1") == 6);
        PrometheusText p = scrape();
        assertThat(p.valueOrNaN("stellane_worker_queue_depth", "worker", "0")).isZero();
        assertThat(p.valueOrNaN("stellane_worker_queue_peak", "worker", "1")).isGreaterThanOrEqualTo(6);
        assertThat(p.valueOrNaN("stellane_tasks_active")).isEqualTo(7); // the holder and the 6 behind it
        assertThat(p.valueOrNaN("stellane_tasks_active_peak")).isGreaterThanOrEqualTo(7);

        release.countDown();
        await(ran);
        eventually("the backlog drains", () -> {
            PrometheusText q = scrape();
            return q.valueOrNaN("stellane_worker_queue_depth", "worker", "1") == 0 && q.valueOrNaN("stellane_tasks_active") == 0;
        });
        assertThat(scrape().valueOrNaN("stellane_tasks_active_peak")).isGreaterThanOrEqualTo(7);
    }

    @Test
    void aBusyWorkerShowsCpuUsageAndCpuTime() {
        Runtime.init(config("nio", 2).build());
        metrics = StellaneMetrics.bind(new io.micrometer.prometheusmetrics.PrometheusMeterRegistry(
                io.micrometer.prometheusmetrics.PrometheusConfig.DEFAULT), java.time.Duration.ofMillis(200));
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch done = new CountDownLatch(1);
        Runtime.scheduleOnWorker(Task.of(() -> {
            while (!stop.get()) {
                spin(1000);
            }
            done.countDown();
        }), 0);
        try {
            eventually("worker 0 reports CPU use above 20%",
                    () -> scrape().valueOrNaN("stellane_worker_cpu_usage_percent", "worker", "0") > 20);
            assertThat(scrape().valueOrNaN("stellane_worker_cpu_time_seconds_total", "worker", "0")).isPositive();
        } finally {
            stop.set(true);
        }
        await(done);
        assertThat(scrape().valueOrNaN("stellane_worker_cpu_usage_percent", "worker", "0")).isBetween(0.0, 100.0);
    }

    @Test
    void beforeInitTheRuntimeReadsAsDownAndNothingFails() {
        metrics = StellaneMetrics.prometheus();
        PrometheusText p = scrape();
        assertThat(p.valueOrNaN("stellane_runtime_running")).isZero();
        assertThat(p.valueOrNaN("stellane_runtime_workers")).isZero();
        assertThat(p.valueOrNaN("stellane_tasks_active")).isZero();
        assertThat(p.valueOrNaN("stellane_tasks_executed_total")).isZero();
        assertThat(p.find("stellane_worker_tasks_executed_total")).isEmpty();

        Runtime.init(config("nio", 1).build()); // bound first, initialized later
        runTasks(0, 3, 1);
        eventually("the late runtime is seen", () -> {
            PrometheusText q = scrape();
            return q.valueOrNaN("stellane_tasks_executed_total") == 4 && q.valueOrNaN("stellane_runtime_running") == 1
                    && q.valueOrNaN("stellane_worker_tasks_executed_total", "worker", "0") == 4;
        });
    }

    @Test
    void countersSurviveARestartAndNeverGoDown() {
        Runtime.init(config("nio", 2).build());
        metrics = StellaneMetrics.prometheus();
        runTasks(0, 8, 2);
        eventually("first life counted", () -> {
            PrometheusText p = scrape();
            return p.valueOrNaN("stellane_tasks_executed_total") == 10
                    && p.valueOrNaN("stellane_worker_tasks_executed_total", "worker", "0") == 10;
        });

        Runtime.stop();
        PrometheusText down = scrape();
        assertThat(down.valueOrNaN("stellane_tasks_executed_total")).isEqualTo(10);
        assertThat(down.valueOrNaN("stellane_tasks_failed_total")).isEqualTo(2);
        assertThat(down.valueOrNaN("stellane_runtime_running")).isZero();
        assertThat(down.valueOrNaN("stellane_runtime_workers")).isZero();

        Runtime.init(config("nio", 3).build());
        runTasks(0, 4, 1);
        runTasks(2, 2, 0);
        eventually("second life adds to the first", () -> {
            PrometheusText p = scrape();
            return p.valueOrNaN("stellane_tasks_executed_total") == 17
                    && p.valueOrNaN("stellane_tasks_failed_total") == 3
                    && p.valueOrNaN("stellane_worker_tasks_executed_total", "worker", "0") == 15
                    && p.valueOrNaN("stellane_worker_tasks_failed_total", "worker", "0") == 3
                    && p.valueOrNaN("stellane_worker_tasks_executed_total", "worker", "2") == 2
                    && p.valueOrNaN("stellane_runtime_workers") == 3;
        });

        Runtime.restart();
        runTasks(1, 1, 0);
        eventually("restart() is followed too", () -> scrape().valueOrNaN("stellane_tasks_executed_total") == 18);
    }

    @Test
    void customCountersAndGaugesAppearUnderStellaneCustom() {
        String hits = "cache_hits_" + System.nanoTime();
        Runtime.incrementMetric(hits); // before the binding: replayed
        double before = Runtime.metrics().counter("bytes.sent");
        metrics = StellaneMetrics.prometheus();
        Runtime.incrementMetric(hits);
        Runtime.incrementMetric(hits);
        Runtime.addMetric("bytes.sent", 42.5);
        Runtime.setGauge("active_connections", 7);

        PrometheusText p = scrape();
        assertThat(p.valueOrNaN("stellane_custom_" + hits + "_total")).isEqualTo(3);
        assertThat(p.valueOrNaN("stellane_custom_bytes_sent_total")).isCloseTo(before + 42.5, within(1e-9));
        assertThat(p.valueOrNaN("stellane_custom_active_connections")).isEqualTo(7);

        Runtime.setGauge("active_connections", 3);
        Runtime.incrementMetric(hits);
        assertThat(scrape().valueOrNaN("stellane_custom_active_connections")).isEqualTo(3);
        assertThat(scrape().valueOrNaN("stellane_custom_" + hits + "_total")).isEqualTo(4);
    }

    @Test
    void twoBindingsBothSeeCustomMetricsAndCloseRemovesTheMeters() {
        String name = "jobs_" + System.nanoTime();
        SimpleMeterRegistry simple = new SimpleMeterRegistry();
        metrics = StellaneMetrics.prometheus();
        try (StellaneMetrics second = StellaneMetrics.bind(simple)) {
            Runtime.addMetric(name, 5);
            assertThat(scrape().valueOrNaN("stellane_custom_" + name + "_total")).isEqualTo(5);
            assertThat(simple.get("stellane.custom." + name).functionCounter().count()).isEqualTo(5);
            assertThat(simple.get("stellane.tasks.executed").functionCounter().count()).isZero();
        }
        assertThat(simple.find("stellane.custom." + name).meters()).isEmpty();
        assertThat(simple.find("stellane.tasks.executed").meters()).isEmpty();
        Runtime.addMetric(name, 1); // the first binding still follows
        assertThat(scrape().valueOrNaN("stellane_custom_" + name + "_total")).isEqualTo(6);
    }

    @Test
    void taskDurationsPerTaskNameWithProfilingOn() {
        Runtime.init(config("nio", 2).build());
        Runtime.enableProfiling(true);
        metrics = StellaneMetrics.prometheus();
        String task = "resize-image-" + System.nanoTime();
        CountDownLatch ran = new CountDownLatch(4);
        for (int i = 0; i < 4; i++) {
            Runtime.schedule(Task.of(() -> {
                spin(3000);
                ran.countDown();
            }).named(task));
        }
        await(ran);
        eventually("4 runs of the task are timed", () -> scrape().valueOrNaN("stellane_task_duration_seconds_count", "task", task) == 4);
        PrometheusText p = scrape();
        assertThat(p.valueOrNaN("stellane_task_duration_seconds_sum", "task", task)).isGreaterThanOrEqualTo(0.012);
        assertThat(p.valueOrNaN("stellane_task_duration_max_seconds", "task", task)).isGreaterThanOrEqualTo(0.003);
        assertThat(p.valueOrNaN("stellane_task_wait_seconds_count", "task", task)).isEqualTo(4);
        assertThat(p.valueOrNaN("stellane_task_wait_seconds_sum", "task", task)).isGreaterThanOrEqualTo(0);
    }

    @Test
    void scrapeNeedsAPrometheusRegistry() {
        metrics = StellaneMetrics.bind(new SimpleMeterRegistry());
        assertThatThrownBy(metrics::scrape).isInstanceOf(IllegalStateException.class).hasMessageContaining("PrometheusMeterRegistry");
        assertThatThrownBy(() -> StellaneMetrics.bind(new SimpleMeterRegistry(), java.time.Duration.ofMillis(1)))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
