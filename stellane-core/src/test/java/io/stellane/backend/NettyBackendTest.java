package io.stellane.backend;

import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import static io.stellane.testing.RuntimeFixture.await;
import static io.stellane.testing.RuntimeFixture.config;
import static io.stellane.testing.RuntimeFixture.holdWorker;
import static org.assertj.core.api.Assertions.assertThat;

/** What the built-in backends add to the contract: the task budget per loop turn keeps I/O going. */
class NettyBackendTest {

    @AfterEach
    void stop() {
        Runtime.stop();
    }

    @Test
    void maxTasksPerLoopLetsTheIoLoopRunBetweenBatches() {
        int budget = 10;
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
        // Work for the I/O side of the loop (channel events and Netty tasks run there).
        AtomicInteger seenByIo = new AtomicInteger(-1);
        backend.ioEventLoop().execute(() -> seenByIo.set(tasksRun.get()));
        release.countDown();
        await(done);
        assertThat(seenByIo.get()).as("the I/O turn came after at most one batch of tasks")
                .isBetween(0, budget);
    }

    @Test
    void withAHugeBudgetTheQueueDrainsBeforeIo() {
        Runtime.init(config("nio", 1).maxTasksPerLoop(1_000_000).build());
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
        backend.ioEventLoop().execute(() -> seenByIo.set(tasksRun.get()));
        release.countDown();
        await(done);
        CountDownLatch ioRan = new CountDownLatch(1);
        backend.ioEventLoop().execute(ioRan::countDown);
        await(ioRan);
        assertThat(seenByIo.get()).isEqualTo(1_000);
    }
}
