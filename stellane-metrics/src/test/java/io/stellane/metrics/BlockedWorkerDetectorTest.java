package io.stellane.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static io.stellane.runtime.testing.RuntimeFixture.config;
import static io.stellane.runtime.testing.RuntimeFixture.eventually;
import static io.stellane.runtime.testing.RuntimeFixture.spin;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class BlockedWorkerDetectorTest {
    private static final Duration THRESHOLD = Duration.ofMillis(300);
    private final List<BlockedWorkerReport> reports = new CopyOnWriteArrayList<>();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private BlockedWorkerDetector detector;

    @BeforeEach
    void init() {
        Runtime.init(config("nio", 2).build());
    }

    @AfterEach
    void tearDown() {
        if (detector != null) {
            detector.close();
        }
        Runtime.stop();
    }

    private BlockedWorkerDetector.Builder detector() {
        return BlockedWorkerDetector.builder().checkInterval(Duration.ofMillis(50)).threshold(THRESHOLD)
                .meterRegistry(registry).onBlocked(reports::add);
    }

    private double blockedCount(int worker) {
        Counter c = registry.find("stellane.workers.blocked").tag("worker", Integer.toString(worker)).counter();
        return c == null ? 0 : c.count();
    }

    /** Runs {@code body} on {@code worker}; returns a latch counted down when it is over. */
    private static CountDownLatch onWorker(int worker, Task.ThrowingRunnable body) {
        CountDownLatch done = new CountDownLatch(1);
        Runtime.scheduleOnWorker(Task.of(() -> {
            try {
                body.run();
            } finally {
                done.countDown();
            }
        }).named("blocking-test-task"), worker);
        return done;
    }

    /** Waits until every worker ran a few probes: the detector is watching a healthy runtime. */
    private void awaitProbes(long atLeast) {
        eventually("the detector has probed " + atLeast + " times", () -> detector.probesRun() >= atLeast);
    }

    @Test
    void aBusySpinningTaskIsReportedWithItsWorkerAndStack() {
        detector = detector().start();
        awaitProbes(4);
        CountDownLatch done = onWorker(1, () -> spin(THRESHOLD.toNanos() * 3 / 1000));
        eventually("worker 1 is reported", () -> !reports.isEmpty());
        await(done);

        BlockedWorkerReport r = reports.getFirst();
        assertThat(r.workerId()).isEqualTo(1);
        assertThat(r.threadName()).isEqualTo("stellane-worker-1");
        assertThat(r.blockedFor()).isGreaterThan(THRESHOLD);
        assertThat(r.inTask()).isTrue();
        assertThat(r.taskName()).contains("blocking-test-task");
        assertThat(r.stack()).anyMatch(f -> f.getMethodName().contains("aBusySpinningTaskIsReportedWithItsWorkerAndStack"));
        assertThat(r.suspectFrame()).hasValueSatisfying(f -> assertThat(f.getClassName()).startsWith(getClass().getName()));
        assertThat(r.describe()).contains("worker 1").contains("aBusySpinningTaskIsReportedWithItsWorkerAndStack");
        assertThat(reports).allMatch(x -> x.workerId() == 1);
        assertThat(blockedCount(1)).isEqualTo(1);
        assertThat(blockedCount(0)).isZero();
    }

    @Test
    void aSleepingTaskIsReportedToo() {
        detector = detector().start();
        awaitProbes(4);
        CountDownLatch done = onWorker(0, () -> Thread.sleep(THRESHOLD.toMillis() * 3)); // the blocking call under test
        eventually("worker 0 is reported", () -> !reports.isEmpty());
        await(done);
        BlockedWorkerReport r = reports.getFirst();
        assertThat(r.workerId()).isEqualTo(0);
        assertThat(r.stack().getFirst().getClassName()).isEqualTo(Thread.class.getName());
        assertThat(r.stack().getFirst().getMethodName()).startsWith("sleep");
        assertThat(r.stack()).anyMatch(f -> f.getMethodName().contains("aSleepingTaskIsReportedToo"));
        assertThat(blockedCount(0)).isEqualTo(1);
    }

    @Test
    void aHealthyRuntimeIsNotReported() {
        detector = detector().threshold(Duration.ofMillis(500)).checkInterval(Duration.ofMillis(20)).start();
        for (int i = 0; i < 200; i++) {
            Runtime.schedule(Task.of(() -> spin(500)));
        }
        awaitProbes(60);
        assertThat(reports).isEmpty();
        assertThat(registry.find("stellane.workers.blocked").counters()).isEmpty();
    }

    @Test
    void reportsAreRateLimitedPerWorkerButEveryEpisodeIsCounted() {
        detector = detector().reportInterval(Duration.ofHours(1)).start();
        awaitProbes(4);
        await(onWorker(0, () -> spin(THRESHOLD.toNanos() * 3 / 1000)));
        eventually("the first episode is counted", () -> blockedCount(0) == 1);
        long probes = detector.probesRun();
        awaitProbes(probes + 4); // worker 0 runs probes again: the first episode is over

        await(onWorker(0, () -> spin(THRESHOLD.toNanos() * 3 / 1000)));
        eventually("the second episode is counted", () -> blockedCount(0) == 2);
        assertThat(reports).hasSize(1);
    }

    @Test
    void aLongBlockIsReportedAgainAfterTheReportInterval() {
        detector = detector().reportInterval(Duration.ofMillis(300)).start();
        awaitProbes(4);
        await(onWorker(1, () -> spin(1500_000)));
        eventually("the block's last report is in", () -> blockedCount(1) == 1 && reports.size() >= 2);
        assertThat(reports).allMatch(r -> r.workerId() == 1);
        assertThat(reports.get(1).blockedFor()).isGreaterThan(reports.get(0).blockedFor());
        assertThat(blockedCount(1)).isEqualTo(1);
    }

    @Test
    void theDetectorFollowsARestartedRuntime() {
        detector = detector().start();
        awaitProbes(4);
        Runtime.stop();
        Runtime.init(config("nio", 1).build());
        long before = detector.probesRun();
        awaitProbes(before + 4);
        CountDownLatch done = onWorker(0, () -> spin(THRESHOLD.toNanos() * 3 / 1000));
        eventually("worker 0 of the new runtime is reported", () -> !reports.isEmpty());
        await(done);
        assertThat(reports.getFirst().workerId()).isZero();
    }

    @Test
    void badSettingsAreRefused() {
        assertThatThrownBy(() -> BlockedWorkerDetector.builder().threshold(Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("threshold");
        assertThatThrownBy(() -> BlockedWorkerDetector.builder().checkInterval(Duration.ofSeconds(2)).threshold(Duration.ofSeconds(1)).start())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("checkInterval");
    }
}
