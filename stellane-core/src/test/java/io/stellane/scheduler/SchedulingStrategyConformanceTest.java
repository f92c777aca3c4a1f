package io.stellane.scheduler;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import io.stellane.task.TaskErrorHandler;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static io.stellane.runtime.testing.RuntimeFixture.config;
import static io.stellane.runtime.testing.RuntimeFixture.eventually;
import static io.stellane.runtime.testing.RuntimeFixture.holdWorker;
import static io.stellane.runtime.testing.RuntimeFixture.workerId;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * What every scheduling strategy must do: lose nothing, run nothing twice, honour
 * {@code scheduleOnWorker}, drain on stop, count failures. A strategy (or a custom scheduler) is
 * done when its subclass of this suite passes; subclasses add the strategy's defining property.
 */
public abstract class SchedulingStrategyConformanceTest {

    protected abstract TaskSchedulingStrategy strategy();

    /** The runtime config for this strategy; subclasses may add to it (e.g. a custom scheduler name). */
    protected RuntimeConfig.Builder configure(int workers) {
        return config("nio", workers).strategy(strategy());
    }

    /** A fresh queue of this strategy, for the queue-level checks. */
    protected TaskScheduler newQueue() {
        return Schedulers.factoryFor(strategy(), configure(1).build().customScheduler()).create(0);
    }

    @AfterEach
    void stopRuntime() {
        Runtime.stop();
    }

    @Test
    void theQueueLosesNothingAndDuplicatesNothingUnderConcurrentProducers() throws Exception {
        TaskScheduler queue = newQueue();
        int producers = 4, each = 5_000;
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            int base = p * each;
            threads.add(Thread.ofPlatform().start(() -> {
                for (int i = 0; i < each; i++) {
                    queue.enqueue(Task.completed(base + i));
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        assertThat(queue.size()).isEqualTo(producers * each);
        assertThat(queue.hasTasks()).isTrue();
        boolean[] seen = new boolean[producers * each];
        Task<?> t;
        int n = 0;
        while ((t = queue.dequeue()) != null) {
            int v = (Integer) t.resultNow();
            assertThat(seen[v]).as("task %d dequeued twice", v).isFalse();
            seen[v] = true;
            n++;
        }
        assertThat(n).isEqualTo(producers * each);
        assertThat(queue.hasTasks()).isFalse();
        assertThat(queue.size()).isZero();
    }

    @Test
    void everyScheduledTaskRunsExactlyOnce() throws Exception {
        Runtime.init(configure(2).build());
        int producers = 4, each = 5_000;
        AtomicIntegerArray runs = new AtomicIntegerArray(producers * each);
        CountDownLatch done = new CountDownLatch(producers * each);
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            int base = p * each;
            threads.add(Thread.ofPlatform().start(() -> {
                for (int i = 0; i < each; i++) {
                    int id = base + i;
                    Runtime.schedule(Task.of(() -> {
                        runs.incrementAndGet(id);
                        done.countDown();
                    }).withPriority(id % 7).withAffinityKey(id % 13));
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        await(done);
        for (int i = 0; i < runs.length(); i++) {
            assertThat(runs.get(i)).as("runs of task %d", i).isEqualTo(1);
        }
        eventually("stats agree", () -> Runtime.getStats().totalTasksExecuted() == producers * each);
    }

    @Test
    void tasksSpawnedByTasksRun() {
        Runtime.init(configure(2).build());
        CountDownLatch done = new CountDownLatch(1_000);
        Runtime.schedule(Task.of(() -> {
            for (int i = 0; i < 1_000; i++) {
                Runtime.schedule(Task.of(done::countDown));
            }
        }));
        await(done);
    }

    @Test
    void scheduleOnWorkerRunsOnThatWorker() {
        Runtime.init(configure(2).build());
        for (int w = 0; w < 2; w++) {
            int target = w;
            AtomicInteger wrong = new AtomicInteger();
            CountDownLatch done = new CountDownLatch(500);
            for (int i = 0; i < 500; i++) {
                Runtime.scheduleOnWorker(Task.of(() -> {
                    if (workerId() != target) {
                        wrong.incrementAndGet();
                    }
                    done.countDown();
                }), target);
            }
            await(done);
            assertThat(wrong).as("tasks pinned to worker %d ran elsewhere", target).hasValue(0);
        }
    }

    @Test
    void stopRunsWhatIsQueued() {
        Runtime.init(configure(2).build());
        CountDownLatch release0 = holdWorker(0);
        CountDownLatch release1 = holdWorker(1);
        AtomicInteger ran = new AtomicInteger();
        for (int i = 0; i < 200; i++) {
            Runtime.schedule(Task.of(ran::incrementAndGet));
        }
        Thread stopper = Thread.ofPlatform().start(Runtime::stop);
        eventually("stopping", () -> !Runtime.isRunning());
        release0.countDown();
        release1.countDown();
        try {
            stopper.join(10_000);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        assertThat(ran).hasValue(200);
    }

    @Test
    void failuresAreCountedAndReported() {
        Runtime.init(configure(2).build());
        AtomicInteger reported = new AtomicInteger();
        TaskErrorHandler handler = (e, t) -> {
            if (t.name().equals("doomed")) {
                reported.incrementAndGet();
            }
        };
        Runtime.onTaskError(handler);
        try {
            for (int i = 0; i < 20; i++) {
                Runtime.schedule(Task.of(() -> {
                    throw new IllegalStateException("no");
                }).named("doomed"));
            }
            eventually("20 failures reported", () -> reported.get() == 20);
            eventually("20 failures counted", () -> Runtime.getStats().totalTasksFailed() == 20);
            assertThat(Runtime.getWorkerStats().stream().mapToLong(w -> w.tasksFailed()).sum()).isEqualTo(20);
        } finally {
            Runtime.removeTaskErrorHandler(handler);
        }
    }
}
