package io.stellane.backend;

import io.stellane.runtime.Runtime;
import io.stellane.scheduler.TaskSchedulingStrategy;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.stellane.runtime.testing.RuntimeFixture.config;
import static io.stellane.runtime.testing.RuntimeFixture.eventually;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The runtime reaches a backend only through its contract: a backend of its own (not Netty) gets the
 * work-stealing wake-ups and provides the clock tasks created on its worker are stamped with.
 */
class BackendHooksTest {
    static final long TURN_NANOS = 42_000_000L;

    /** The spec's custom loop, with a fixed turn clock and a count of the wake-ups it was asked for. */
    static final class HookedLoop implements EventLoopBackend {
        static final AtomicInteger wakeUps = new AtomicInteger();
        private final CustomEventLoop loop = new CustomEventLoop();

        @Override
        public void run() {
            loop.run();
        }

        @Override
        public void stop() {
            loop.stop();
        }

        @Override
        public void schedule(Task<?> task) {
            loop.schedule(task);
        }

        @Override
        public boolean isRunning() {
            return loop.isRunning();
        }

        @Override
        public int pendingTasks() {
            return loop.pendingTasks();
        }

        @Override
        public boolean wakeIfSleeping() {
            wakeUps.incrementAndGet();
            return true;
        }

        @Override
        public long loopNanos() {
            return TURN_NANOS;
        }
    }

    @AfterEach
    void stop() {
        Runtime.stop();
        RuntimeFactory.unregisterBackend("hooked");
    }

    @Test
    void tasksCreatedOnAWorkerTakeItsBackendsClock() throws Exception {
        RuntimeFactory.registerBackend("hooked", HookedLoop::new);
        Runtime.init(config("hooked", 1).build());
        CompletableFuture<Long> created = new CompletableFuture<>();
        Runtime.schedule(Task.of(() -> created.complete(Task.of(() -> { }).createdNanos())));
        assertThat(created.get(10, TimeUnit.SECONDS)).isEqualTo(TURN_NANOS);
    }

    @Test
    void workStealingWakesAnIdleSiblingThroughTheBackend() {
        RuntimeFactory.registerBackend("hooked", HookedLoop::new);
        Runtime.init(config("hooked", 2).strategy(TaskSchedulingStrategy.WORK_STEALING).build());
        int before = HookedLoop.wakeUps.get();
        AtomicInteger ran = new AtomicInteger();
        Runtime.scheduleOnWorker(Task.of(() -> {
            for (int i = 0; i < 8; i++) {
                Runtime.schedule(Task.of(ran::incrementAndGet)); // spawned on worker 0: kept there
            }
        }), 0);
        eventually("the spawned tasks ran", () -> ran.get() == 8);
        assertThat(HookedLoop.wakeUps.get() - before).as("wake-ups asked of the sibling").isPositive();
    }
}
