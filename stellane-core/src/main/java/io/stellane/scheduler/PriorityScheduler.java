package io.stellane.scheduler;

import io.stellane.task.Task;

import java.util.PriorityQueue;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Higher {@link Task#priority()} first, first in first out among equals, and no starvation.
 *
 * <h2>How it works</h2>
 * Each task gets the key {@code arrival - priority * AGING}, smallest first, where {@code arrival}
 * counts enqueues. A task of priority {@code p} therefore overtakes at most {@code p * AGING} tasks
 * of priority 0 that arrived before it: under an endless stream of high-priority work, a
 * low-priority task waits for a bounded number of later arrivals, then runs. Priorities are clamped
 * to [-1000, 1000]. A lock guards the heap: priority scheduling is for mixed workloads, where the
 * ordering is worth more than a lock-free queue's speed.
 */
public final class PriorityScheduler implements TaskScheduler {
    /** How many later arrivals one priority level may overtake. */
    public static final long AGING = 1024;
    private static final int LIMIT = 1000;

    private record Entry(long key, Task<?> task) {
    }

    private final ReentrantLock lock = new ReentrantLock();
    private final PriorityQueue<Entry> heap = new PriorityQueue<>((a, b) -> Long.compare(a.key, b.key));
    private long arrivals;
    private volatile int size;

    @Override
    public void enqueue(Task<?> task) {
        int p = Math.clamp(task.priority(), -LIMIT, LIMIT);
        lock.lock();
        try {
            heap.add(new Entry(arrivals++ - p * AGING, task));
            size = heap.size();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Task<?> dequeue() {
        if (size == 0) {
            return null;
        }
        lock.lock();
        try {
            Entry e = heap.poll();
            size = heap.size();
            return e == null ? null : e.task;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public boolean hasTasks() {
        return size > 0;
    }

    @Override
    public int size() {
        return size;
    }
}
