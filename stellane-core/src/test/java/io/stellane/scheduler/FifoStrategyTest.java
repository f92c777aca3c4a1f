package io.stellane.scheduler;

import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.stream.IntStream;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static io.stellane.runtime.testing.RuntimeFixture.eventually;
import static io.stellane.runtime.testing.RuntimeFixture.holdWorker;
import static org.assertj.core.api.Assertions.assertThat;

class FifoStrategyTest extends SchedulingStrategyConformanceTest {
    @Override
    protected TaskSchedulingStrategy strategy() {
        return TaskSchedulingStrategy.FIFO;
    }

    @Test
    void oneWorkerRunsTasksInTheOrderTheyCame() {
        Runtime.init(configure(1).build());
        CountDownLatch release = holdWorker(0);
        List<Integer> order = new CopyOnWriteArrayList<>();
        CountDownLatch done = new CountDownLatch(100);
        for (int i = 0; i < 100; i++) {
            int n = i;
            Runtime.schedule(Task.of(() -> {
                order.add(n);
                done.countDown();
            }).withPriority(100 - i)); // priorities mean nothing to FIFO
        }
        release.countDown();
        await(done);
        assertThat(order).containsExactlyElementsOf(IntStream.range(0, 100).boxed().toList());
    }

    @Test
    void tasksFromOutsideAreSpreadOverTheWorkers() {
        Runtime.init(configure(2).build());
        CountDownLatch done = new CountDownLatch(1_000);
        for (int i = 0; i < 1_000; i++) {
            Runtime.schedule(Task.of(done::countDown));
        }
        await(done);
        // a worker counts a task after its body, so the last count may trail the latch by a moment
        eventually("every task counted", () -> Runtime.getStats().totalTasksExecuted() == 1_000);
        assertThat(Runtime.getWorkerStats()).allSatisfy(w -> assertThat(w.tasksExecuted()).isEqualTo(500));
    }
}
