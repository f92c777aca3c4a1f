package io.stellane.scheduler;

import io.stellane.task.Task;
import org.jctools.queues.MpmcUnboundedXaddArrayQueue;
import org.jctools.queues.MpscUnboundedXaddArrayQueue;

/**
 * A worker's queue that idle workers may take from. Tasks pinned to this worker go to a private
 * queue that is never stolen from; all others go to a shared multi-consumer queue that the owner
 * and thieves both poll from the head, so the oldest work moves first and order within a worker
 * stays FIFO.
 */
public final class WorkStealingScheduler implements TaskScheduler {
    private final MpmcUnboundedXaddArrayQueue<Task<?>> shared = new MpmcUnboundedXaddArrayQueue<>(1024);
    private final MpscUnboundedXaddArrayQueue<Task<?>> pinned = new MpscUnboundedXaddArrayQueue<>(64);

    @Override
    public void enqueue(Task<?> task) {
        if (task.pinnedWorker() >= 0) {
            pinned.offer(task);
        } else {
            shared.offer(task);
        }
    }

    @Override
    public Task<?> dequeue() {
        Task<?> t = pinned.poll();
        return t != null ? t : shared.poll();
    }

    @Override
    public Task<?> steal() {
        return shared.poll();
    }

    @Override
    public boolean hasTasks() {
        return !shared.isEmpty() || !pinned.isEmpty();
    }

    @Override
    public int size() {
        return shared.size() + pinned.size();
    }

    /** Tasks another worker could take. */
    public int stealable() {
        return shared.size();
    }
}
