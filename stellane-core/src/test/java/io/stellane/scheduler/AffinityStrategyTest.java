package io.stellane.scheduler;

import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static org.assertj.core.api.Assertions.assertThat;

class AffinityStrategyTest extends SchedulingStrategyConformanceTest {
    @Override
    protected TaskSchedulingStrategy strategy() {
        return TaskSchedulingStrategy.AFFINITY;
    }

    @Test
    void tasksWithOneKeyAlwaysRunOnOneThread() {
        Runtime.init(configure(2).build());
        Map<String, Set<Thread>> threadsByKey = new ConcurrentHashMap<>();
        CountDownLatch done = new CountDownLatch(2_000);
        for (int i = 0; i < 2_000; i++) {
            String key = "user-" + (i % 10);
            Runtime.schedule(Task.of(() -> {
                threadsByKey.computeIfAbsent(key, k -> ConcurrentHashMap.newKeySet()).add(Thread.currentThread());
                done.countDown();
            }).withAffinityKey(key));
        }
        await(done);
        assertThat(threadsByKey).hasSize(10);
        assertThat(threadsByKey.values()).allSatisfy(threads -> assertThat(threads).hasSize(1));
        assertThat(threadsByKey.values().stream().flatMap(Set::stream).distinct().count())
                .as("keys are spread over both workers").isEqualTo(2);
    }

    @Test
    void keylessTasksSpawnedOnAWorkerStayOnIt() {
        Runtime.init(configure(2).build());
        Set<Thread> threads = ConcurrentHashMap.newKeySet();
        CountDownLatch done = new CountDownLatch(500);
        Runtime.scheduleOnWorker(Task.of(() -> {
            for (int i = 0; i < 500; i++) {
                Runtime.schedule(Task.of(() -> {
                    threads.add(Thread.currentThread());
                    done.countDown();
                }));
            }
        }), 1);
        await(done);
        assertThat(threads).singleElement().extracting(Thread::getName).isEqualTo("stellane-worker-1");
    }
}
