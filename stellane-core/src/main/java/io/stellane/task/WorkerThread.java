package io.stellane.task;

import io.netty.util.concurrent.FastThreadLocalThread;

/** A platform thread that drives one {@link Worker}; how {@link Worker#current()} finds it. */
public final class WorkerThread extends FastThreadLocalThread {
    private final Worker worker;

    public WorkerThread(Worker worker, Runnable loop, String name) {
        super(loop, name);
        this.worker = worker;
        setDaemon(false);
    }

    public Worker worker() {
        return worker;
    }
}
