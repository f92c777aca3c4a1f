package io.stellane.scheduler;

import io.stellane.StellaneException;
import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static io.stellane.runtime.testing.RuntimeFixture.holdWorker;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A user's scheduler (last in, first out) through the TaskScheduler SPI and Runtime.registerScheduler. */
class CustomStrategyTest extends SchedulingStrategyConformanceTest {
    static final AtomicInteger created = new AtomicInteger();

    /** Newest first: easy to tell apart from every built-in order. */
    static final class LifoScheduler implements TaskScheduler {
        private final ConcurrentLinkedDeque<Task<?>> deque = new ConcurrentLinkedDeque<>();

        @Override
        public void enqueue(Task<?> task) {
            deque.push(task);
        }

        @Override
        public Task<?> dequeue() {
            return deque.poll();
        }

        @Override
        public boolean hasTasks() {
            return !deque.isEmpty();
        }

        @Override
        public int size() {
            return deque.size();
        }
    }

    @BeforeAll
    static void register() {
        Runtime.registerScheduler("lifo", id -> {
            created.incrementAndGet();
            return new LifoScheduler();
        });
    }

    @AfterAll
    static void unregister() {
        Schedulers.unregister("lifo");
    }

    @Override
    protected TaskSchedulingStrategy strategy() {
        return TaskSchedulingStrategy.CUSTOM;
    }

    @Override
    protected RuntimeConfig.Builder configure(int workers) {
        return super.configure(workers).customScheduler("lifo");
    }

    @Test
    void theRegisteredSchedulerDecidesTheOrder() {
        int before = created.get();
        Runtime.init(configure(1).build());
        assertThat(created.get() - before).as("one queue per worker").isEqualTo(1);
        CountDownLatch release = holdWorker(0);
        List<Integer> order = new CopyOnWriteArrayList<>();
        CountDownLatch done = new CountDownLatch(5);
        for (int i = 0; i < 5; i++) {
            int n = i;
            Runtime.schedule(Task.of(() -> {
                order.add(n);
                done.countDown();
            }));
        }
        release.countDown();
        await(done);
        assertThat(order).containsExactly(4, 3, 2, 1, 0);
    }

    /** Every task to the last worker, by task name parity to the first: the strategy alone decides. */
    static final class ByNameParity implements TaskSchedulerFactory {
        @Override
        public TaskScheduler create(int workerId) {
            return new LifoScheduler();
        }

        @Override
        public int place(Task<?> task, Placement placement) {
            return task.name().endsWith("odd") ? placement.workers() - 1 : 0;
        }
    }

    @Test
    void aCustomStrategyDecidesWhereEachTaskRuns() {
        Runtime.registerScheduler("parity", new ByNameParity());
        try {
            Runtime.init(configure(3).customScheduler("parity").build());
            List<String> where = new CopyOnWriteArrayList<>();
            CountDownLatch done = new CountDownLatch(20);
            for (int i = 0; i < 20; i++) {
                String name = i % 2 == 0 ? "even" : "odd";
                Runtime.schedule(Task.of(() -> {
                    where.add(name + "@" + io.stellane.runtime.testing.RuntimeFixture.workerId());
                    done.countDown();
                }).named(name));
            }
            await(done);
            assertThat(where).hasSize(20).allMatch(w -> w.equals("even@0") || w.equals("odd@2"));
        } finally {
            Runtime.stop();
            Schedulers.unregister("parity");
        }
    }

    @Test
    void anUnknownCustomSchedulerFailsInitWithTheRegisteredNames() {
        assertThatThrownBy(() -> Runtime.init(configure(1).customScheduler("nope").build()))
                .isInstanceOf(StellaneException.class)
                .hasMessageContaining("'nope'")
                .hasMessageContaining("lifo");
    }
}
