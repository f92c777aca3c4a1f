package io.stellane.scheduler;

import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;

import static io.stellane.runtime.testing.RuntimeFixture.await;
import static io.stellane.runtime.testing.RuntimeFixture.holdWorker;
import static org.assertj.core.api.Assertions.assertThat;

class PriorityStrategyTest extends SchedulingStrategyConformanceTest {
    @Override
    protected TaskSchedulingStrategy strategy() {
        return TaskSchedulingStrategy.PRIORITY;
    }

    @Test
    void higherPriorityRunsFirstAndEqualsKeepTheirOrder() {
        Runtime.init(configure(1).build());
        CountDownLatch release = holdWorker(0);
        List<String> order = new CopyOnWriteArrayList<>();
        String[] names = {"low-a", "high-a", "mid-a", "low-b", "high-b", "mid-b"};
        int[] priorities = {0, 10, 5, 0, 10, 5};
        CountDownLatch done = new CountDownLatch(names.length);
        for (int i = 0; i < names.length; i++) {
            String name = names[i];
            Runtime.scheduleWithPriority(Task.of(() -> {
                order.add(name);
                done.countDown();
            }), priorities[i]);
        }
        release.countDown();
        await(done);
        assertThat(order).containsExactly("high-a", "high-b", "mid-a", "mid-b", "low-a", "low-b");
    }

    @Test
    void lowPriorityIsNotStarvedBySustainedHighPriorityWork() {
        PriorityScheduler queue = new PriorityScheduler();
        queue.enqueue(Task.completed("low"));
        int high = 50_000;
        int position = -1;
        for (int i = 0; i < high; i++) {
            queue.enqueue(Task.completed("high").withPriority(10));
            // a worker keeps dequeuing while new high-priority work keeps arriving
            if (i % 2 == 1) {
                Task<?> t = queue.dequeue();
                if (t.resultNow().equals("low")) {
                    position = i;
                    break;
                }
            }
        }
        assertThat(position).as("the low-priority task ran while high-priority work kept coming").isPositive();
        assertThat((long) position).isLessThanOrEqualTo(2 * 10 * PriorityScheduler.AGING + 2);
    }

    @Test
    void higherPriorityOvertakesOnlyABoundedNumberOfEarlierTasks() {
        PriorityScheduler queue = new PriorityScheduler();
        int early = (int) PriorityScheduler.AGING * 3;
        for (int i = 0; i < early; i++) {
            queue.enqueue(Task.completed(i));
        }
        queue.enqueue(Task.completed(-1).withPriority(1));
        int position = 0;
        while (!queue.dequeue().resultNow().equals(-1)) {
            position++;
        }
        assertThat(position).isEqualTo(early - (int) PriorityScheduler.AGING);
    }
}
