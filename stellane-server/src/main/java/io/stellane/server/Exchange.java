package io.stellane.server;

import io.netty.util.concurrent.EventExecutor;
import io.stellane.task.Worker;

/**
 * Where a live request came from and where its response goes back: what the {@link Dispatcher} and
 * request recovery need of a connection, and nothing of how it speaks HTTP. Every method is called on
 * the exchange's loop, except {@link #onLoop}, which gets there.
 */
interface Exchange {

    /** Writes {@code response} as the answer to {@code cx}'s request. */
    void respond(Context cx, Response response);

    /** This exchange's loop. */
    EventExecutor executor();

    /** Runs {@code r} on this exchange's loop: now when already there, else queued. */
    default void onLoop(Runnable r) {
        EventExecutor loop = executor();
        if (loop.inEventLoop()) {
            r.run();
        } else {
            loop.execute(r);
        }
    }

    /** Queues {@code r} on this exchange's loop behind what the loop is doing now, even when called there. */
    default void later(Runnable r) {
        executor().execute(r);
    }

    /** Flushes what was written outside a read (an answer that completed later). */
    void flush();

    /** The worker whose loop this is, for its counters and its clock; null off a runtime worker. */
    Worker worker();

    /** A number unique in the process, for request ids. */
    long id();
}
