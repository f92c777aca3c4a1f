package io.stellane.backend;

import io.stellane.internal.TurnClock;
import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static io.stellane.runtime.testing.RuntimeFixture.config;
import static io.stellane.runtime.testing.RuntimeFixture.eventually;
import static io.stellane.runtime.testing.RuntimeFixture.holdWorker;
import static org.assertj.core.api.Assertions.assertThat;

/** What the built-in backends add to the contract: the task budget per loop turn keeps I/O going. */
class NettyBackendTest {

    @AfterEach
    void stop() {
        Runtime.stop();
    }

    /**
     * Queues 1,000 tasks behind a held worker, then one piece of I/O-side work (channel events and
     * Netty tasks run there); releases the worker and returns how many tasks had run when the I/O
     * side got its turn.
     */
    private static int tasksRunBeforeIo(int budget) {
        Runtime.init(config("nio", 1).maxTasksPerLoop(budget).build());
        IoBackend backend = (IoBackend) Runtime.backends().getFirst();
        CountDownLatch release = holdWorker(0);
        AtomicInteger tasksRun = new AtomicInteger();
        CountDownLatch done = new CountDownLatch(1_000);
        for (int i = 0; i < 1_000; i++) {
            Runtime.schedule(Task.of(() -> {
                tasksRun.incrementAndGet();
                done.countDown();
            }));
        }
        AtomicInteger seenByIo = new AtomicInteger(-1);
        CountDownLatch ioRan = new CountDownLatch(1);
        backend.ioEventLoop().execute(() -> {
            seenByIo.set(tasksRun.get());
            ioRan.countDown();
        });
        release.countDown();
        await(done);
        await(ioRan);
        return seenByIo.get();
    }

    @Test
    void maxTasksPerLoopLetsTheIoLoopRunBetweenBatches() {
        assertThat(tasksRunBeforeIo(10)).as("the I/O turn came after at most one batch of tasks").isBetween(0, 10);
    }

    @Test
    void withAHugeBudgetTheQueueDrainsBeforeIo() {
        assertThat(tasksRunBeforeIo(1_000_000)).isEqualTo(1_000);
    }

    /** Holds worker {@code id} in a task until {@code release}; returns the clock read inside it. */
    private static long holdInATask(int id, CountDownLatch release) {
        CountDownLatch running = new CountDownLatch(1);
        AtomicLong insideTask = new AtomicLong();
        Runtime.scheduleOnWorker(Task.of(() -> {
            insideTask.set(System.nanoTime());
            running.countDown();
            await(release);
        }), id);
        await(running);
        return insideTask.get();
    }

    @Test
    void aBusyWorkerSharesItsTurnClockWithThreadsOffTheRuntime() {
        Runtime.init(config("nio", 1).build());
        CountDownLatch release = new CountDownLatch(1);
        long insideTask = holdInATask(0, release);
        try {
            // a clock read now would come after the task's own read; the turn began before it
            assertThat(TurnClock.recentOrNow()).isLessThan(insideTask);
            assertThat(Task.of(() -> { }).createdNanos()).isLessThan(insideTask);
        } finally {
            release.countDown();
        }
    }

    @Test
    void anIdleWorkerLeavesABusyWorkersTurnClockPublished() {
        Runtime.init(config("nio", 2).build());
        NettyBackend idle = (NettyBackend) Runtime.backends().get(1);
        CountDownLatch release = new CountDownLatch(1);
        long insideTask = holdInATask(0, release);
        try {
            // worker 1 wakes for I/O-side work, then goes back to its wait: after worker 0 published
            CountDownLatch ran = new CountDownLatch(1);
            idle.ioEventLoop().execute(ran::countDown);
            await(ran);
            eventually("worker 1 is waiting for I/O again", idle::isSleeping);
            assertThat(TurnClock.recentOrNow()).as("still worker 0's turn, not a fresh read").isLessThan(insideTask);
        } finally {
            release.countDown();
        }
    }

    @Test
    void aStoppedWorkerLeavesNoTurnClockBehind() throws Exception {
        Runtime.init(config("nio", 1).build());
        CountDownLatch release = new CountDownLatch(1);
        holdInATask(0, release); // the turn that runs it has published its clock
        Thread stopper = Thread.ofPlatform().start(Runtime::stop); // graceful: waits for the task
        // release only once the worker is told to stop, so that its last turn is the one it published
        eventually("stop is waiting for the worker", () -> stopper.getState() == Thread.State.TIMED_WAITING);
        release.countDown();
        stopper.join();
        long afterStop = System.nanoTime();
        assertThat(TurnClock.recentOrNow()).as("a fresh clock read, not the last turn's").isGreaterThanOrEqualTo(afterStop);
    }
}
