package io.stellane.runtime;

import io.stellane.StellaneException;
import io.stellane.backend.BackendException;
import io.stellane.config.ConfigException;
import io.stellane.config.RuntimeConfig;
import io.stellane.scheduler.TaskSchedulingStrategy;
import io.stellane.stats.RuntimeStats;
import io.stellane.stats.WorkerStats;
import io.stellane.task.Task;
import io.stellane.runtime.testing.RuntimeFixture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static io.stellane.runtime.testing.RuntimeFixture.config;
import static io.stellane.runtime.testing.RuntimeFixture.eventually;
import static io.stellane.runtime.testing.RuntimeFixture.holdWorker;
import static io.stellane.runtime.testing.RuntimeFixture.spin;
import static io.stellane.runtime.testing.RuntimeFixture.workerId;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The static facade: lifecycle, misuse, live config, stats, profiling and metrics. */
class RuntimeTest {

    @AfterEach
    void stop() {
        Runtime.stop();
    }

    @Test
    void usingTheRuntimeBeforeInitFailsClearly() {
        assertThatThrownBy(() -> Runtime.schedule(Task.of(() -> { })))
                .isInstanceOf(StellaneException.class).hasMessageContaining("Runtime.init(config) first");
        assertThatThrownBy(Runtime::getStats).hasMessageContaining("not initialized");
        assertThatThrownBy(Runtime::start).hasMessageContaining("not initialized");
        assertThat(Runtime.isRunning()).isFalse();
        Runtime.stop(); // harmless
    }

    @Test
    void aSecondInitWithoutStopFails() {
        Runtime.init(config("nio", 1).build());
        assertThatThrownBy(() -> Runtime.init(config("nio", 1).build()))
                .isInstanceOf(StellaneException.class)
                .hasMessageContaining("init() called twice")
                .hasMessageContaining("Runtime.stop() first");
    }

    @Test
    void initRejectsAnInvalidConfigNamingTheKey() {
        assertThatThrownBy(() -> Runtime.init(config("nio", 0).build()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("runtime.worker_threads").hasMessageContaining("0");
        assertThatThrownBy(() -> Runtime.init(config("warp-drive", 1).build()))
                .isInstanceOf(BackendException.class).hasMessageContaining("warp-drive");
        assertThat(Runtime.isRunning()).isFalse();
        Runtime.init(config("nio", 1).build()); // nothing half-initialized was left behind
    }

    @Test
    void initFromConfigFileReadsTheSpecLayout(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("stellane.toml");
        Files.writeString(file, """
                [runtime]
                backend = "nio"
                worker_threads = 2
                strategy = "work_stealing"
                max_tasks_per_loop = 64
                [runtime.performance]
                idle_timeout = "50ms"
                """);
        Runtime.initFromConfigFile(file.toString());
        RuntimeConfig c = Runtime.getConfig();
        assertThat(c.workerThreads()).isEqualTo(2);
        assertThat(c.strategy()).isEqualTo(TaskSchedulingStrategy.WORK_STEALING);
        assertThat(c.idleTimeout()).isEqualTo(Duration.ofMillis(50));
        assertThat(Runtime.getStats().workerCount()).isEqualTo(2);
        Runtime.stop();
        Files.writeString(file, "[runtime]\nworker_threads = \"many\"\n");
        assertThatThrownBy(() -> Runtime.initFromConfigFile(file))
                .isInstanceOf(ConfigException.class).hasMessageContaining("runtime.worker_threads").hasMessageContaining("many");
    }

    @Test
    void validateConfigSaysWhetherAConfigIsValid() {
        assertThat(Runtime.validateConfig(RuntimeConfig.defaults())).isTrue();
        assertThat(Runtime.validateConfig(RuntimeConfig.builder().maxTasksPerLoop(0).build())).isFalse();
    }

    @Test
    void startBlocksUntilStop() throws Exception {
        Runtime.init(config("nio", 1).build());
        Thread main = Thread.ofPlatform().start(Runtime::start);
        main.join(200);
        assertThat(main.isAlive()).as("start() blocks while running").isTrue();
        Runtime.stop();
        main.join(10_000);
        assertThat(main.isAlive()).isFalse();
    }

    @Test
    void stopIsIdempotentAndInitWorksAgainAfterIt() {
        Runtime.init(config("nio", 1).build());
        Runtime.stop();
        Runtime.stop();
        assertThat(Runtime.liveWorkers()).isZero();
        Runtime.init(config("nio", 2).build());
        CountDownLatch ran = new CountDownLatch(1);
        Runtime.schedule(Task.of(ran::countDown));
        await(ran);
    }

    @Test
    void restartKeepsTheConfigAndRunsAgain() {
        Runtime.init(config("nio", 2).maxTasksPerLoop(77).build());
        CountDownLatch first = new CountDownLatch(10);
        for (int i = 0; i < 10; i++) {
            Runtime.schedule(Task.of(first::countDown));
        }
        await(first);
        Runtime.restart();
        assertThat(Runtime.getConfig().maxTasksPerLoop()).isEqualTo(77);
        assertThat(Runtime.getStats().totalTasksExecuted()).as("a new life starts counting at zero").isZero();
        CountDownLatch second = new CountDownLatch(1);
        Runtime.schedule(Task.of(second::countDown));
        await(second);
    }

    @Test
    void stopGivesUpOnABlockedWorkerAfterTheShutdownTimeout() {
        Runtime.init(config("nio", 1).shutdownTimeout(Duration.ofMillis(200)).build());
        CountDownLatch release = holdWorker(0);
        Runtime.schedule(Task.of(() -> { })); // queued behind the blocked task, abandoned
        long t0 = System.nanoTime();
        Runtime.stop();
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(9));
        assertThat(Runtime.isRunning()).isFalse();
        release.countDown(); // let the thread end
        eventually("worker ended", () -> Runtime.liveWorkers() == 0);
    }

    @Test
    void updateConfigAddsAndRetiresWorkersLive() {
        Runtime.init(config("nio", 1).build());
        Runtime.updateConfig(Runtime.getConfig().toBuilder().workerThreads(3).build());
        assertThat(Runtime.getWorkerStats()).hasSize(3);
        CountDownLatch ran = new CountDownLatch(1);
        int[] where = new int[1];
        Runtime.scheduleOnWorker(Task.of(() -> {
            where[0] = workerId();
            ran.countDown();
        }), 2);
        await(ran);
        assertThat(where[0]).isEqualTo(2);

        Runtime.updateConfig(Runtime.getConfig().toBuilder().workerThreads(1).build());
        assertThat(Runtime.getStats().workerCount()).isEqualTo(1);
        eventually("retired workers ended", () -> Runtime.liveWorkers() == 1);
        assertThatThrownBy(() -> Runtime.scheduleOnWorker(Task.of(() -> { }), 2))
                .hasMessageContaining("no worker 2");
        CountDownLatch after = new CountDownLatch(100);
        for (int i = 0; i < 100; i++) {
            Runtime.schedule(Task.of(after::countDown));
        }
        await(after);
    }

    @Test
    void updateConfigAppliesLoopLimitsAndRefusesWhatNeedsARestart() {
        Runtime.init(config("nio", 1).build());
        Runtime.updateConfig(Runtime.getConfig().toBuilder().maxTasksPerLoop(5).idleTimeout(Duration.ofMillis(7)).build());
        assertThat(Runtime.getConfig().maxTasksPerLoop()).isEqualTo(5);
        assertThat(Runtime.getConfig().idleTimeout()).isEqualTo(Duration.ofMillis(7));
        CountDownLatch ran = new CountDownLatch(50);
        for (int i = 0; i < 50; i++) {
            Runtime.schedule(Task.of(ran::countDown));
        }
        await(ran);
        assertThatThrownBy(() -> Runtime.updateConfig(Runtime.getConfig().toBuilder()
                .strategy(TaskSchedulingStrategy.PRIORITY).backendType("epoll").build()))
                .isInstanceOf(StellaneException.class)
                .hasMessageContaining("backend, strategy")
                .hasMessageContaining("restart()");
        assertThatThrownBy(() -> Runtime.updateConfig(Runtime.getConfig().toBuilder().workerThreads(0).build()))
                .isInstanceOf(ConfigException.class);
    }

    @Test
    void statsCountWhatRan() {
        Runtime.init(config("nio", 2).build());
        CountDownLatch done = new CountDownLatch(300);
        for (int i = 0; i < 300; i++) {
            Runtime.schedule(Task.of(() -> {
                spin(50);
                done.countDown();
            }));
        }
        await(done);
        eventually("all counted", () -> Runtime.getStats().totalTasksExecuted() == 300);
        RuntimeStats s = Runtime.getStats();
        assertThat(s.totalTasksFailed()).isZero();
        assertThat(s.averageTaskDurationMs()).isGreaterThanOrEqualTo(0.05);
        assertThat(s.uptime()).isPositive();
        assertThat(s.backendType()).isEqualTo("nio");
        assertThat(s.workerCount()).isEqualTo(2);
        assertThat(s.strategy()).isEqualTo("FIFO");
        assertThat(s.currentActiveTasks()).isZero();
        List<WorkerStats> ws = Runtime.getWorkerStats();
        assertThat(ws).extracting(WorkerStats::workerId).containsExactly(0, 1);
        assertThat(ws.stream().mapToLong(WorkerStats::tasksExecuted).sum()).isEqualTo(300);
        assertThat(ws).allSatisfy(w -> {
            assertThat(w.threadName()).startsWith("stellane-worker-");
            assertThat(w.pinnedCpu()).isEqualTo(-1);
            assertThat(w.averageTaskDurationMs()).isGreaterThanOrEqualTo(0.05);
        });
    }

    @Test
    void twoSnapshotsGiveTheMeanTaskTimeOfTheIntervalBetweenThem() {
        Runtime.init(config("nio", 1).build());
        RuntimeStats start = Runtime.getStats();
        runSpinning(128, 200); // the worker times its tasks 0 and 64
        eventually("first batch counted", () -> Runtime.getStats().totalTasksExecuted() == 128);
        RuntimeStats middle = Runtime.getStats();
        runSpinning(64, 2_000); // and task 128
        eventually("second batch counted", () -> Runtime.getStats().totalTasksExecuted() == 192);
        RuntimeStats end = Runtime.getStats();

        assertThat(middle.timedTasks() - start.timedTasks()).isEqualTo(2);
        assertThat(end.timedTasks() - middle.timedTasks()).isEqualTo(1);
        double firstMs = (middle.timedTaskNanos() - start.timedTaskNanos()) / 1e6 / 2;
        double secondMs = (end.timedTaskNanos() - middle.timedTaskNanos()) / 1e6;
        assertThat(firstMs).isGreaterThanOrEqualTo(0.2);
        assertThat(secondMs).isGreaterThanOrEqualTo(2.0);
        // the all-time mean is the same sums from zero
        assertThat(end.averageTaskDurationMs()).isCloseTo(end.timedTaskNanos() / 1e6 / end.timedTasks(),
                org.assertj.core.data.Offset.offset(1e-9));
        WorkerStats w = Runtime.getWorkerStats().getFirst();
        assertThat(w.timedTasks()).isEqualTo(end.timedTasks());
        assertThat(w.timedTaskNanos()).isEqualTo(end.timedTaskNanos());
    }

    private static void runSpinning(int tasks, long micros) {
        CountDownLatch done = new CountDownLatch(tasks);
        for (int i = 0; i < tasks; i++) {
            Runtime.schedule(Task.of(() -> {
                spin(micros);
                done.countDown();
            }));
        }
        await(done);
    }

    /** One worker held busy with 50 trivial tasks queued behind it; count the latch down to release it. */
    private static CountDownLatch fiftyQueuedBehindAHeldWorker() {
        Runtime.init(config("nio", 1).build());
        CountDownLatch release = holdWorker(0);
        for (int i = 0; i < 50; i++) {
            Runtime.schedule(Task.of(() -> { }));
        }
        return release;
    }

    @Test
    void activeAndPeakCountQueuedTasks() {
        CountDownLatch release = fiftyQueuedBehindAHeldWorker();
        RuntimeStats during = Runtime.getStats();
        assertThat(during.currentActiveTasks()).isGreaterThanOrEqualTo(50);
        assertThat(Runtime.getWorkerStats().getFirst().currentQueueSize()).isEqualTo(50);
        release.countDown();
        eventually("drained", () -> Runtime.getStats().currentActiveTasks() == 0);
        // the worker samples its queue every eighth task it runs: within 8 of the true 50 (the
        // snapshot above saw 50 already, so the peak of the queue is exact; the runtime's is sampled)
        assertThat(Runtime.getStats().peakActiveTasks()).isGreaterThanOrEqualTo(42);
        assertThat(Runtime.getWorkerStats().getFirst().peakQueueSize()).isEqualTo(50);
    }

    @Test
    void theWorkerSamplesItsPeakQueueWithoutASnapshot() {
        CountDownLatch release = fiftyQueuedBehindAHeldWorker();
        release.countDown();
        eventually("drained", () -> Runtime.getStats().currentActiveTasks() == 0);
        // sampled on every eighth task run: within 8 of the true 50, and never more
        assertThat(Runtime.getWorkerStats().getFirst().peakQueueSize()).isBetween(42, 51);
        assertThat(Runtime.getStats().peakActiveTasks()).isGreaterThanOrEqualTo(42);
    }

    @Test
    void aQueuedTaskAwaitedElsewhereStillRunsOnItsWorker() throws Exception {
        Runtime.init(config("nio", 1).build());
        CountDownLatch release = holdWorker(0);
        Task<Integer> queued = Task.supply(RuntimeFixture::workerId);
        Runtime.schedule(queued);
        assertThat(queued.isStarted()).isFalse();
        assertThat(queued.start()).as("start() leaves a queued task to its worker").isSameAs(queued);
        Thread awaiting = Thread.ofVirtual().start(queued::await);
        awaiting.join(50); // a moment in which the awaiting thread could have run it itself
        assertThat(queued.isStarted()).isFalse();
        release.countDown();
        awaiting.join();
        assertThat(queued.resultNow()).as("ran on worker 0, not on the awaiting thread").isZero();
        assertThat(queued.isStarted()).isTrue();
    }

    @Test
    void aQueuedTaskCancelledBeforeItsWorkerReachesItNeverRuns() {
        Runtime.init(config("nio", 1).build());
        CountDownLatch release = holdWorker(0);
        AtomicInteger ran = new AtomicInteger();
        Task<Void> queued = Task.of(ran::incrementAndGet);
        Runtime.schedule(queued);
        assertThat(queued.cancel()).isTrue();
        CountDownLatch after = new CountDownLatch(1);
        Runtime.schedule(Task.of(after::countDown)); // behind it in the same queue
        release.countDown();
        await(after);
        assertThat(ran).hasValue(0);
        assertThat(queued.isCancelled()).isTrue();
        assertThat(Runtime.getStats().totalTasksFailed()).as("a cancellation is not a failure").isZero();
    }

    @Test
    void cpuUsageReflectsABusyWorker() {
        Runtime.init(config("nio", 2).build());
        Runtime.getWorkerStats(); // start a new sampling window
        CountDownLatch done = new CountDownLatch(1);
        Runtime.scheduleOnWorker(Task.of(() -> {
            spin(300_000);
            done.countDown();
        }), 0);
        await(done);
        List<WorkerStats> ws = Runtime.getWorkerStats();
        assertThat(ws.get(0).cpuUsagePercent()).isGreaterThan(ws.get(1).cpuUsagePercent());
        assertThat(ws.get(0).cpuUsagePercent()).isBetween(10.0, 100.0);
    }

    @Test
    void profilingMeasuresTasksByName() {
        Runtime.enableProfiling(true);
        try {
            Runtime.init(config("nio", 1).build());
            CountDownLatch done = new CountDownLatch(20);
            for (int i = 0; i < 20; i++) {
                Runtime.schedule(Task.of(() -> {
                    spin(200);
                    done.countDown();
                }).named("resize-image"));
            }
            await(done);
            eventually("profiled", () -> Runtime.getProfile().stream().anyMatch(p -> p.name().equals("resize-image") && p.count() == 20));
            TaskProfile p = Runtime.getProfile().stream().filter(x -> x.name().equals("resize-image")).findFirst().orElseThrow();
            assertThat(p.maxRunNanos()).isGreaterThanOrEqualTo(TimeUnit.MICROSECONDS.toNanos(200));
            assertThat(p.averageRunMillis()).isGreaterThanOrEqualTo(0.2);
            assertThat(p.totalWaitNanos()).isPositive();
        } finally {
            Runtime.enableProfiling(false);
        }
        Runtime.stop();
        Runtime.init(config("nio", 1).build());
        CountDownLatch one = new CountDownLatch(1);
        Runtime.schedule(Task.of(one::countDown).named("unprofiled"));
        await(one);
        assertThat(Runtime.getProfile()).as("off records nothing").isEmpty();
    }

    @Test
    void taskObserversSeeEveryScheduledTask() {
        List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        TaskObserver observer = (name, worker, run, wait, failed) -> seen.add(name + "@" + worker + (failed ? ":failed" : ""));
        Runtime.addTaskObserver(observer);
        try {
            Runtime.init(config("nio", 2).build());
            CountDownLatch done = new CountDownLatch(2);
            Runtime.scheduleOnWorker(Task.of(done::countDown).named("ok"), 1);
            Runtime.scheduleOnWorker(Task.of(() -> {
                done.countDown();
                throw new IllegalStateException("x");
            }).named("bad"), 0);
            await(done);
            eventually("both observed", () -> seen.size() == 2);
            assertThat(seen).containsExactlyInAnyOrder("ok@1", "bad@0:failed");
        } finally {
            Runtime.removeTaskObserver(observer);
        }
    }

    @Test
    void theRunningTaskAndTheWorkerThreadAreVisible() {
        Runtime.init(config("nio", 2).build());
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Runtime.scheduleOnWorker(Task.of(() -> {
            held.countDown();
            release.await();
        }).named("long-report"), 1);
        await(held);
        assertThat(Runtime.runningTaskName(1)).contains("long-report");
        assertThat(Runtime.workerThread(1).getName()).isEqualTo("stellane-worker-1");
        release.countDown();
        eventually("idle again", () -> Runtime.runningTaskName(1).isEmpty());
    }

    @Test
    void metricListenersAllSeeUpdates() {
        List<String> a = new java.util.ArrayList<>(), b = new java.util.ArrayList<>();
        Metrics.MetricsListener la = new Metrics.MetricsListener() {
            public void counterAdded(String name, double delta) { if (name.equals("listen_test")) a.add("c" + delta); }
            public void gaugeSet(String name, double value) { if (name.equals("listen_gauge")) a.add("g" + value); }
        };
        Metrics.MetricsListener lb = new Metrics.MetricsListener() {
            public void counterAdded(String name, double delta) { if (name.equals("listen_test")) b.add("c" + delta); }
            public void gaugeSet(String name, double value) { }
        };
        Runtime.metrics().addListener(la);
        Runtime.metrics().addListener(lb);
        try {
            Runtime.addMetric("listen_test", 2);
            Runtime.setGauge("listen_gauge", 3);
        } finally {
            Runtime.metrics().removeListener(la);
            Runtime.metrics().removeListener(lb);
        }
        Runtime.addMetric("listen_test", 5);
        assertThat(a).containsExactly("c2.0", "g3.0");
        assertThat(b).containsExactly("c2.0");
    }

    @Test
    void customMetricsAddUpAndGaugesHoldTheirLastValue() {
        double base = Runtime.metrics().counter("cache_hits");
        Runtime.incrementMetric("cache_hits");
        Runtime.incrementMetric("cache_hits");
        Runtime.addMetric("cache_hits", 40);
        Runtime.setGauge("active_connections", 12);
        Runtime.setGauge("active_connections", 7);
        assertThat(Runtime.metrics().counter("cache_hits") - base).isEqualTo(42);
        assertThat(Runtime.metrics().gauge("active_connections")).isEqualTo(7);
        assertThat(Runtime.metrics().gauge("never_set")).isNaN();
        assertThatThrownBy(() -> Runtime.incrementMetric(" ")).isInstanceOf(IllegalArgumentException.class);
    }
    @Test
    void lifecycleListenersHearStopsAndRestartsAndStartBlocksAcrossARestartFromATask() throws Exception {
        List<String> heard = new java.util.concurrent.CopyOnWriteArrayList<>();
        RuntimeLifecycleListener listener = new RuntimeLifecycleListener() {
            @Override
            public void stopping(boolean restarting) {
                heard.add("stopping " + restarting + " running " + Runtime.isRunning());
            }

            @Override
            public void restarted() {
                heard.add("restarted running " + Runtime.isRunning());
            }
        };
        Runtime.addLifecycleListener(listener);
        Runtime.addLifecycleListener(listener); // twice: heard once
        try {
            Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).build());
            CountDownLatch returned = new CountDownLatch(1);
            Thread main = Thread.ofPlatform().start(() -> {
                Runtime.start();
                returned.countDown();
            });
            Runtime.schedule(Task.of(Runtime::restart)); // on a worker: runs on a thread of its own
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (heard.size() < 2) {
                assertThat(System.nanoTime() < deadline).as("the restart happened: %s", heard).isTrue();
                Thread.onSpinWait();
            }
            assertThat(heard).containsExactly("stopping true running true", "restarted running true");
            assertThat(returned.await(200, TimeUnit.MILLISECONDS)).as("start() still blocks").isFalse();
            Runtime.stop();
            assertThat(returned.await(10, TimeUnit.SECONDS)).as("a stop ends it").isTrue();
            assertThat(heard).last().isEqualTo("stopping false running true");
            main.join(5000);
        } finally {
            Runtime.removeLifecycleListener(listener);
        }
    }
}
