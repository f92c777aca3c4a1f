package io.stellane.backend;

import io.stellane.task.Task;

import java.util.ArrayDeque;
import java.util.Queue;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/** The spec's {@code MyCustomEventLoop} in Java: its own queue, a lock and a condition; drains on stop. */
public final class CustomEventLoop implements EventLoopBackend {
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Queue<Task<?>> queue = new ArrayDeque<>();
    private volatile boolean running;
    private boolean stopping;

    @Override
    public void run() {
        running = true;
        try {
            while (true) {
                Task<?> task;
                lock.lock();
                try {
                    while (queue.isEmpty() && !stopping) {
                        changed.awaitUninterruptibly();
                    }
                    task = queue.poll();
                    if (task == null) {
                        return; // stopping and drained
                    }
                } finally {
                    lock.unlock();
                }
                task.run();
            }
        } finally {
            running = false;
        }
    }

    @Override
    public void stop() {
        lock.lock();
        try {
            stopping = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void schedule(Task<?> task) {
        lock.lock();
        try {
            queue.add(task);
            changed.signal();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    @Override
    public int pendingTasks() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }
}
