package io.stellane.scheduler;

import io.stellane.task.Task;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.RepetitionInfo;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The scheduler against a model of its rule: the smallest {@code arrival - priority * AGING} first,
 * the higher priority (the later arrival) first on equal keys, arrivals numbered in enqueue order, priorities clamped
 * to ±1000. Random priorities from a few
 * levels and from the whole range, with dequeues interleaved, so levels empty and refill.
 */
class PrioritySchedulerOrderTest {
    private record Key(long key, long arrival) {
    }

    @RepeatedTest(20)
    void takesTasksInTheOrderOfTheRule(RepetitionInfo repetition) {
        Random random = new Random(repetition.getCurrentRepetition());
        boolean fewLevels = repetition.getCurrentRepetition() % 2 == 0;
        PriorityScheduler scheduler = new PriorityScheduler();
        TreeMap<Key, Task<?>> model = new TreeMap<>(Comparator.comparingLong(Key::key).thenComparing(Key::arrival, Comparator.reverseOrder()));
        long arrivals = 0;
        List<Object> got = new ArrayList<>(), expected = new ArrayList<>();
        for (int step = 0; step < 20_000; step++) {
            if (random.nextInt(5) < 3) {
                int priority = fewLevels ? random.nextInt(3) * 5 - 5 : random.nextInt(3000) - 1500;
                Task<?> t = Task.completed(step).withPriority(priority);
                scheduler.enqueue(t);
                model.put(new Key(arrivals - Math.clamp(priority, -1000, 1000) * PriorityScheduler.AGING, arrivals), t);
                arrivals++;
            } else {
                Task<?> t = scheduler.dequeue();
                var first = model.pollFirstEntry();
                assertThat(t).as("step %d", step).isSameAs(first == null ? null : first.getValue());
            }
            assertThat(scheduler.size()).isEqualTo(model.size());
            assertThat(scheduler.hasTasks()).isEqualTo(!model.isEmpty());
        }
        Task<?> t;
        while ((t = scheduler.dequeue()) != null) {
            got.add(t);
            expected.add(model.pollFirstEntry().getValue());
        }
        assertThat(got).isEqualTo(expected);
        assertThat(model).isEmpty();
    }

    @Test
    void aLevelKeepsItsOrderAcrossGrowth() {
        PriorityScheduler scheduler = new PriorityScheduler();
        for (int round = 0; round < 3; round++) {
            List<Task<?>> in = new ArrayList<>();
            for (int i = 0; i < 1000 * (round + 1); i++) {
                Task<?> t = Task.completed(i);
                in.add(t);
                scheduler.enqueue(t);
                if (i % 7 == 0) { // take some as they come: the ring's head moves before it grows
                    assertThat(scheduler.dequeue()).isSameAs(in.removeFirst());
                }
            }
            List<Task<?>> out = new ArrayList<>();
            Task<?> t;
            while ((t = scheduler.dequeue()) != null) {
                out.add(t);
            }
            assertThat(out).isEqualTo(in);
        }
        assertThat(scheduler.hasTasks()).isFalse();
        assertThat(scheduler.size()).isZero();
    }

    @Test
    void aDequeueSortsABoundedNumberOfArrivals() {
        PriorityScheduler scheduler = new PriorityScheduler();
        int flood = PriorityScheduler.SORT_BATCH + 10;
        for (int i = 0; i < flood; i++) {
            scheduler.enqueue(Task.completed(i));
        }
        Task<?> urgent = Task.completed("urgent").withPriority(1000);
        scheduler.enqueue(urgent);
        assertThat(scheduler.size()).isEqualTo(flood + 1);
        assertThat(scheduler.dequeue().resultNow()).as("the urgent task is not sorted yet").isEqualTo(0);
        assertThat(scheduler.dequeue()).as("sorted by the next dequeue, it goes first").isSameAs(urgent);
        assertThat(scheduler.size()).isEqualTo(flood - 1);
        for (int i = 1; i < flood; i++) {
            assertThat(scheduler.dequeue().resultNow()).isEqualTo(i);
        }
        assertThat(scheduler.hasTasks()).isFalse();
    }

    @Test
    void aTaskQueuedWhileOthersWaitIsOrderedWithThem() {
        PriorityScheduler scheduler = new PriorityScheduler();
        Task<?> low = Task.completed("low");
        Task<?> high = Task.completed("high").withPriority(3);
        scheduler.enqueue(low);
        assertThat(scheduler.hasTasks()).isTrue();
        scheduler.enqueue(high);
        assertThat(scheduler.dequeue()).isSameAs(high);
        assertThat(scheduler.dequeue()).isSameAs(low);
        assertThat(scheduler.dequeue()).isNull();
    }
}
