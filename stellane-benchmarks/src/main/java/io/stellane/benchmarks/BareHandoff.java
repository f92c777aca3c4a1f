package io.stellane.benchmarks;

import org.jctools.queues.MpscUnboundedXaddArrayQueue;

import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * The least code that runs a task on another thread: a consumer thread per queue (the same lock-free
 * queue as Stellane's FIFO workers and Netty's loops), parking when its queue is empty and unparked by
 * the producer that finds it asleep. No futures, no stats, no I/O poll, no task object beyond the
 * caller's {@link Runnable}. A reference rather than a floor (Netty's loop, which sleeps less often,
 * beats it in some runs): its score next to the others shows how much of every contender's number
 * is this machine's thread scheduling rather than the contender's own work.
 *
 * <p>Threading: {@link #execute} from one producer thread at a time (the benchmark's round-robin
 * cursor is a plain field); consumers are daemon threads, ended by {@link #close}.
 */
final class BareHandoff implements AutoCloseable {
    private final Consumer[] consumers;
    private int next;

    BareHandoff(int threads) {
        consumers = new Consumer[threads];
        for (int i = 0; i < threads; i++) {
            consumers[i] = new Consumer("bare-handoff-" + i);
            consumers[i].start();
        }
    }

    void execute(Runnable task) {
        Consumer c = consumers[next];
        next = next + 1 == consumers.length ? 0 : next + 1;
        c.queue.offer(task);
        if (c.sleeping) {
            c.sleeping = false;
            LockSupport.unpark(c);
        }
    }

    List<Thread> threads() {
        return List.of(consumers);
    }

    @Override
    public void close() throws InterruptedException {
        for (Consumer c : consumers) {
            c.closed = true;
            LockSupport.unpark(c);
        }
        for (Consumer c : consumers) {
            c.join();
        }
    }

    private static final class Consumer extends Thread {
        final MpscUnboundedXaddArrayQueue<Runnable> queue = new MpscUnboundedXaddArrayQueue<>(1024);
        volatile boolean sleeping;
        volatile boolean closed;

        Consumer(String name) {
            super(name);
            setDaemon(true);
        }

        @Override
        public void run() {
            while (!closed) {
                Runnable r = queue.relaxedPoll();
                if (r != null) {
                    r.run();
                    continue;
                }
                // The flag is written before the queue is read again, and the producer reads it after
                // its offer: either this thread sees the task or the producer sees the flag.
                sleeping = true;
                if (queue.isEmpty() && !closed) {
                    LockSupport.park(this);
                }
                sleeping = false;
            }
        }
    }
}
