package io.stellane.runtime;

import io.stellane.config.ConfigException;
import io.stellane.config.ConfigLoader;
import io.stellane.config.RuntimeConfig;
import io.stellane.task.Task;
import io.stellane.task.Worker;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WorkerScalingTest {

    @AfterEach
    void stop() {
        Runtime.stop();
    }

    private static RuntimeConfig scaling(int min, int max) {
        return RuntimeConfig.builder().backendType("nio").scalingEnabled(true).minWorkers(min).maxWorkers(max)
                .workerThreads(min).scaleUpAfter(Duration.ofMillis(300)).scaleDownAfter(Duration.ofMillis(600)).build();
    }

    private static void await(String what, Duration limit, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime() - deadline < 0).as("timed out waiting until %s", what).isTrue();
            TimeUnit.MILLISECONDS.sleep(10);
        }
    }

    @Test
    void workersAreAddedUnderSustainedLoadAndRetiredOnceItStops() throws Exception {
        Runtime.init(scaling(1, 2));
        assertThat(Runtime.getStats().workerCount()).isEqualTo(1);
        AtomicBoolean loaded = new AtomicBoolean(true);
        Thread feeder = Thread.ofPlatform().start(() -> {
            while (loaded.get()) { // enough busy tasks to keep every worker's queue from emptying
                for (int i = 0; i < 50; i++) {
                    Runtime.schedule(Task.of(() -> {
                        long until = System.nanoTime() + 200_000;
                        while (System.nanoTime() < until) {
                            Thread.onSpinWait();
                        }
                    }));
                }
                try {
                    TimeUnit.MILLISECONDS.sleep(5);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        try {
            await("a second worker", Duration.ofSeconds(15), () -> Runtime.getStats().workerCount() == 2);
        } finally {
            loaded.set(false);
            feeder.join();
        }
        await("back to one worker", Duration.ofSeconds(15), () -> Runtime.getStats().workerCount() == 1);
        await("the retired worker's thread ended", Duration.ofSeconds(15), () -> Runtime.liveWorkers() == 1);
        assertThat(Runtime.getStats().workerCount()).isEqualTo(1);
    }

    @Test
    void anIdleRuntimeNeverGoesBelowItsMinimum() throws Exception {
        Runtime.init(scaling(2, 2).toBuilder().maxWorkers(3).build());
        TimeUnit.MILLISECONDS.sleep(1_000); // longer than scale_down_after: idle all along
        assertThat(Runtime.getStats().workerCount()).isEqualTo(2);
    }

    @Test
    void autoWorkerThreadsMeansScalingFromTheMinimum() {
        RuntimeConfig c = ConfigLoader.fromTomlString("""
                [runtime]
                worker_threads = "auto"
                [runtime.scaling]
                min_workers = 2
                max_workers = 4
                """);
        assertThat(c.workerThreads()).isEqualTo(RuntimeConfig.AUTO_WORKERS);
        assertThat(c.scales()).isTrue();
        assertThat(c.initialWorkers()).isEqualTo(2);
        assertThat(ConfigLoader.applyEnvironment(RuntimeConfig.defaults(), Map.of("STELLANE_RUNTIME_WORKER_THREADS", "auto"))
                .scales()).isTrue();
    }

    @Test
    void aRangeThatCannotHoldIsRefusedNamingTheKey() {
        assertThatThrownBy(() -> ConfigLoader.fromTomlString("[runtime.scaling]\nmin_workers = 4\nmax_workers = 2\n"))
                .isInstanceOf(ConfigException.class)
                .hasMessage("invalid config runtime.scaling.max_workers = 2: at least runtime.scaling.min_workers (4)");
        assertThatThrownBy(() -> ConfigLoader.fromTomlString("[runtime]\nworker_threads = \"lots\"\n"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("runtime.worker_threads");
    }

    @Test
    void turningScalingOnLiveKeepsTheCountWithinTheRange() {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(3).build());
        Runtime.updateConfig(Runtime.getConfig().toBuilder().scalingEnabled(true).minWorkers(1).maxWorkers(2).build());
        assertThat(Runtime.getStats().workerCount()).isEqualTo(2);
    }

    @Test
    void aResultThatArrivesAfterItsWorkerRetiredIsDeliveredOnAnotherWorker() throws Exception {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(2).build());
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<Integer> deliveredOn = new CompletableFuture<>();
        Runtime.scheduleOnWorker(Task.of(() -> Task.blocking(() -> { // its home: worker 1, which started it
            started.countDown();
            release.await();
            return 0;
        }).map(v -> Worker.current() == null ? -1 : Worker.current().id()).onComplete((id, e) -> {
            if (e != null) {
                deliveredOn.completeExceptionally(e);
            } else {
                deliveredOn.complete(id);
            }
        }).start()), 1);
        assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
        Runtime.updateConfig(Runtime.getConfig().toBuilder().workerThreads(1).build());
        await("worker 1's thread ended", Duration.ofSeconds(15), () -> Runtime.liveWorkers() == 1);
        release.countDown();
        assertThat(deliveredOn.get(5, TimeUnit.SECONDS)).as("the worker the result was delivered on").isEqualTo(0);
    }

    @Test
    void aTimerOfARetiredWorkerFiresOnAnotherAndItsCountsStayInTheTotals() throws Exception {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(2).build());
        CompletableFuture<Integer> firedOn = new CompletableFuture<>();
        CountDownLatch counted = new CountDownLatch(100);
        for (int i = 0; i < 100; i++) {
            Runtime.scheduleOnWorker(Task.of(counted::countDown), 1);
        }
        assertThat(counted.await(5, TimeUnit.SECONDS)).isTrue();
        Runtime.scheduleOnWorker(Task.of(() -> Task.sleep(Duration.ofSeconds(3)) // its home: worker 1
                .map(v -> Worker.current() == null ? -1 : Worker.current().id())
                .onComplete((id, e) -> {
                    if (e != null) {
                        firedOn.completeExceptionally(e);
                    } else {
                        firedOn.complete(id);
                    }
                }).start()), 1);
        long executedBefore = Runtime.getStats().totalTasksExecuted();
        Runtime.updateConfig(Runtime.getConfig().toBuilder().workerThreads(1).build());
        await("worker 1's thread ended", Duration.ofSeconds(15), () -> Runtime.liveWorkers() == 1);
        assertThat(firedOn.get(10, TimeUnit.SECONDS)).as("the worker the sleep ended on").isEqualTo(0);
        assertThat(Runtime.getStats().totalTasksExecuted()).as("a retired worker's tasks still count")
                .isGreaterThanOrEqualTo(executedBefore);
    }
}
