package io.stellane.scheduler;

import io.stellane.task.Task;
import org.jctools.queues.MpscUnboundedXaddArrayQueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.PriorityQueue;

/**
 * Higher {@link Task#priority()} first, first in first out among equals, and no starvation.
 *
 * <h2>How it works</h2>
 * Each task gets the key {@code arrival - priority * AGING}, smallest first (on equal keys the higher
 * priority first), where {@code arrival} counts enqueues. A task of priority {@code p} therefore
 * overtakes at most {@code p * AGING} tasks of priority 0 that arrived before it: under an endless
 * stream of high-priority work, a low-priority task waits for a bounded number of later arrivals,
 * then runs. Priorities are clamped to [-1000, 1000].
 *
 * <p>Producers only append to a lock-free queue, as under FIFO; the owning worker moves what arrived
 * into its own structures when it dequeues ({@link #SORT_BATCH} at most at a time), numbering
 * arrivals in the queue's order. A task's priority is read then, so set it before scheduling the
 * task. Those structures are one FIFO ring per priority level (keys within a level only grow) and a
 * heap of the non-empty levels by their first key: taking a task costs {@code O(log L)} for {@code L}
 * levels in use, and {@code O(1)} when every queued task has the same priority. No lock: a worker and
 * its producers never wait for each other.
 */
final class PriorityScheduler implements TaskScheduler {
    /** How many later arrivals one priority level may overtake. */
    public static final long AGING = 1024;
    private static final int LIMIT = 1000;
    /**
     * At most this many arrivals are sorted per dequeue (about a third of a millisecond): a flood must
     * not stall the worker's loop. Only sorted tasks compete, so a task that arrives behind more than
     * this many unsorted ones is ordered one dequeue later.
     */
    static final int SORT_BATCH = 16_384;
    /** A level's ring is given back beyond this many slots once it empties. */
    private static final int KEEP_SLOTS = 1024;
    private static final VarHandle TAKEN;

    static {
        try {
            TAKEN = MethodHandles.lookup().findVarHandle(CountFields.class, "taken", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final MpscUnboundedXaddArrayQueue<Task<?>> arrived = new MpscUnboundedXaddArrayQueue<>(1024);

    // The owning worker's alone.
    private final Level[] levels = new Level[2 * LIMIT + 1];
    /** On equal keys the higher priority first: it then overtakes exactly {@code priority * AGING} tasks. */
    private final PriorityQueue<Level> byFirstKey = new PriorityQueue<>((a, b) -> a.firstKey() != b.firstKey()
            ? Long.compare(a.firstKey(), b.firstKey())
            : Integer.compare(b.priority, a.priority));
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
            first.trim();
        } else if (byFirstKey.size() > 1) {
            byFirstKey.poll(); // its first key grew: back into place
            byFirstKey.add(first);
        }
        Counts c = counts;
        TAKEN.setOpaque(c, c.taken + 1);
        return task;
    }

    private void sortArrivals() {
        Counts c = counts;
        Task<?> t;
        for (int n = 0; n < SORT_BATCH && (t = arrived.relaxedPoll()) != null; n++) {
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
        }
    }

    @Override
    public boolean hasTasks() {
        return size() > 0;
    }

    /** Enqueued minus taken: exact whether a task waits in the queue or in a level. */
    @Override
    public int size() {
        return (int) (arrived.currentProducerIndex() - (long) TAKEN.getOpaque(counts));
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
        long arrivals; // the owner's: arrivals numbered so far
        long taken;    // the owner's: tasks dequeued; read opaquely by anyone
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

        /** Gives a large ring back once empty: a burst must not hold its memory for good. */
        void trim() {
            if (tasks.length > KEEP_SLOTS) {
                keys = new long[16];
                tasks = new Task<?>[16];
                head = 0;
            }
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
