package io.stellane.scheduler;

import io.stellane.runtime.Runtime;
import io.stellane.stats.WorkerStats;
import io.stellane.task.Task;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static io.stellane.runtime.testing.RuntimeFixture.eventually;
import static io.stellane.runtime.testing.RuntimeFixture.holdWorker;
import static io.stellane.runtime.testing.RuntimeFixture.spin;
import static io.stellane.runtime.testing.RuntimeFixture.workerId;
import static org.assertj.core.api.Assertions.assertThat;

class WorkStealingStrategyTest extends SchedulingStrategyConformanceTest {
    @Override
    protected TaskSchedulingStrategy strategy() {
        return TaskSchedulingStrategy.WORK_STEALING;
    }

    @Test
    void tenThousandTasksQueuedOnWorkerZeroFinishOnEveryWorker() {
        Runtime.init(configure(2).build());
        AtomicIntegerArray perWorker = new AtomicIntegerArray(2);
        CountDownLatch done = new CountDownLatch(10_000);
        Runtime.scheduleOnWorker(Task.of(() -> {
            for (int i = 0; i < 10_000; i++) {
                Runtime.schedule(Task.of(() -> {
                    spin(20);
                    perWorker.incrementAndGet(workerId());
                    done.countDown();
                }));
            }
        }), 0);
        await(done);
        assertThat(perWorker.get(0) + perWorker.get(1)).isEqualTo(10_000);
        assertThat(perWorker.get(1)).as("worker 1 stole and ran some of worker 0's tasks").isPositive();
        WorkerStats thief = Runtime.getWorkerStats().get(1);
        assertThat(thief.tasksStolen()).isEqualTo(perWorker.get(1));
        eventually("nothing is active once all ran (stolen tasks included)",
                () -> Runtime.getStats().currentActiveTasks() == 0);
    }

    @Test
    void anIdleWorkerStealsFromAWorkerStuckInALongTask() {
        Runtime.init(configure(2).build());
        CountDownLatch release = holdWorker(0); // it never takes another batch meanwhile
        AtomicIntegerArray perWorker = new AtomicIntegerArray(2);
        CountDownLatch done = new CountDownLatch(100);
        for (int i = 0; i < 100; i++) { // round-robin: half of them queue behind the held worker
            Runtime.schedule(Task.of(() -> {
                perWorker.incrementAndGet(workerId());
                done.countDown();
            }));
        }
        try {
            await(done);
            assertThat(perWorker.get(1)).as("worker 1 ran them all, worker 0's included").isEqualTo(100);
            assertThat(Runtime.getWorkerStats().get(1).tasksStolen()).isPositive();
        } finally {
            release.countDown();
        }
    }

    @Test
    void pinnedTasksAreNeverStolen() {
        Runtime.init(configure(2).build());
        AtomicIntegerArray perWorker = new AtomicIntegerArray(2);
        CountDownLatch done = new CountDownLatch(2_000);
        for (int i = 0; i < 2_000; i++) {
            Runtime.scheduleOnWorker(Task.of(() -> {
                spin(20);
                perWorker.incrementAndGet(workerId());
                done.countDown();
            }), 0);
        }
        await(done);
        assertThat(perWorker.get(1)).isZero();
        assertThat(Runtime.getWorkerStats().get(1).tasksStolen()).isZero();
    }
}
