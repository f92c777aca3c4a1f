package io.stellane.scheduler;

import io.stellane.task.Task;
import org.jctools.queues.MpscUnboundedXaddArrayQueue;

/** First in, first out: a lock-free multi-producer, single-consumer queue (the one Netty's loops use). */
final class FifoScheduler implements TaskScheduler {
    private final MpscUnboundedXaddArrayQueue<Task<?>> queue = new MpscUnboundedXaddArrayQueue<>(1024);

    @Override
    public void enqueue(Task<?> task) {
        queue.offer(task);
    }

    @Override
    public Task<?> dequeue() {
        return queue.poll();
    }

    @Override
    public boolean hasTasks() {
        return !queue.isEmpty();
    }

    @Override
    public int size() {
        return queue.size();
    }
}
