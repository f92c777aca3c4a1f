package io.stellane.scheduler;

import io.stellane.task.Task;
import org.jctools.queues.MpscUnboundedXaddArrayQueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Comparator;
import java.util.PriorityQueue;

/**
 * Higher {@link Task#priority()} first, first in first out among equals, and no starvation.
 *
 * <h2>How it works</h2>
 * Each task gets the key {@code arrival - priority * AGING}, smallest first, where {@code arrival}
 * counts enqueues (on equal keys the higher priority first). A task of priority {@code p} therefore overtakes at most {@code p * AGING} tasks
 * of priority 0 that arrived before it: under an endless stream of high-priority work, a
 * low-priority task waits for a bounded number of later arrivals, then runs. Priorities are clamped
 * to [-1000, 1000].
 *
 * <p>Producers only append to a lock-free queue, as under FIFO; the owning worker moves what arrived
 * into its own structures when it dequeues, numbering arrivals in the queue's order. Those structures
 * are one FIFO ring per priority level (keys within a level only grow) and a heap of the non-empty
 * levels by their first key: taking a task costs {@code O(log L)} for {@code L} levels in use, and
 * {@code O(1)} when every queued task has the same priority. No lock: a worker and its producers
 * never wait for each other.
 */
public final class PriorityScheduler implements TaskScheduler {
    /** How many later arrivals one priority level may overtake. */
    public static final long AGING = 1024;
    private static final int LIMIT = 1000;
    private static final VarHandle SORTED;

    static {
        try {
            SORTED = MethodHandles.lookup().findVarHandle(CountFields.class, "sorted", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final MpscUnboundedXaddArrayQueue<Task<?>> arrived = new MpscUnboundedXaddArrayQueue<>(1024);

    // The owning worker's alone.
    private final Level[] levels = new Level[2 * LIMIT + 1];
    /** On equal keys the higher priority first: it then overtakes exactly {@code priority * AGING} tasks. */
    private final PriorityQueue<Level> byFirstKey = new PriorityQueue<>(
            Comparator.comparingLong(Level::firstKey).thenComparing(Level::priority, Comparator.reverseOrder()));
    private final Counts counts = new Counts();

    @Override
    public void enqueue(Task<?> task) {
        arrived.offer(task);
    }

    @Override
    public Task<?> dequeue() {
        sortArrivals();
        Level first = byFirstKey.peek();
        if (first == null) {
            return null;
        }
        Task<?> task = first.take();
        if (first.isEmpty()) {
            byFirstKey.poll();
        } else if (byFirstKey.size() > 1) {
            byFirstKey.poll(); // its first key grew: back into place
            byFirstKey.add(first);
        }
        Counts c = counts;
        SORTED.setOpaque(c, c.sorted - 1);
        return task;
    }

    private void sortArrivals() {
        Counts c = counts;
        int moved = 0;
        Task<?> t;
        while ((t = arrived.relaxedPoll()) != null) {
            int p = Math.clamp(t.priority(), -LIMIT, LIMIT);
            Level level = levels[p + LIMIT];
            if (level == null) {
                levels[p + LIMIT] = level = new Level(p);
            }
            boolean wasEmpty = level.isEmpty();
            level.add(c.arrivals++ - p * AGING, t); // appended: the level's first key stays
            if (wasEmpty) {
                byFirstKey.add(level);
            }
            moved++;
        }
        if (moved > 0) {
            SORTED.setOpaque(c, c.sorted + moved);
        }
    }

    @Override
    public boolean hasTasks() {
        return (int) SORTED.getOpaque(counts) > 0 || !arrived.isEmpty();
    }

    @Override
    public int size() {
        return (int) SORTED.getOpaque(counts) + arrived.size();
    }

    /**
     * Written by the owner on every task, so on cache lines of its own: producers read this
     * scheduler's queue on every enqueue. Padding by inheritance (a superclass's fields come first).
     */
    @SuppressWarnings("unused")
    private abstract static class PadBefore {
        long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
    }

    private abstract static class CountFields extends PadBefore {
        long arrivals; // the owner's: enqueues numbered so far
        int sorted;    // the owner's: tasks in the levels; read opaquely by anyone
    }

    @SuppressWarnings("unused")
    private static final class Counts extends CountFields {
        long q00, q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;
    }

    /** The tasks of one priority level in arrival order, with their keys: a growable ring. */
    private static final class Level {
        private final int priority;
        private long[] keys = new long[16];
        private Task<?>[] tasks = new Task<?>[16];
        private int head, count;

        Level(int priority) {
            this.priority = priority;
        }

        int priority() {
            return priority;
        }

        boolean isEmpty() {
            return count == 0;
        }

        long firstKey() {
            return keys[head];
        }

        void add(long key, Task<?> task) {
            if (count == tasks.length) {
                grow();
            }
            int i = (head + count) & (tasks.length - 1);
            keys[i] = key;
            tasks[i] = task;
            count++;
        }

        Task<?> take() {
            Task<?> t = tasks[head];
            tasks[head] = null;
            head = (head + 1) & (tasks.length - 1);
            count--;
            return t;
        }

        private void grow() {
            int n = tasks.length;
            long[] k = new long[n * 2];
            Task<?>[] t = new Task<?>[n * 2];
            for (int i = 0; i < count; i++) {
                k[i] = keys[(head + i) & (n - 1)];
                t[i] = tasks[(head + i) & (n - 1)];
            }
            keys = k;
            tasks = t;
            head = 0;
        }
    }
}
