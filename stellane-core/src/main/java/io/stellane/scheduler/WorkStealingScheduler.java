package io.stellane.scheduler;

import io.stellane.task.Task;
import org.jctools.queues.MpscUnboundedXaddArrayQueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A worker's queue that idle workers may take from. Tasks pinned to this worker go to a private
 * queue that is never stolen from; all others go to a shared queue.
 *
 * <h2>Why a consumer lock and batches</h2>
 * The shared queue is a multi-producer, single-consumer queue, and whoever consumes from it (the
 * owner or a thief) holds a consumer lock. A multi-consumer queue would make the owner pay an
 * atomic operation for every task it takes, where stealing is the rare case; here the owner takes
 * up to {@value #BATCH} tasks per lock into a private buffer, and so does a thief. The buffer is
 * the price: while the owner runs one task, at most {@value #BATCH} - 1 others wait in it out of
 * thieves' reach. Oldest work moves first, and order within a worker stays FIFO.
 */
final class WorkStealingScheduler implements TaskScheduler {
    static final int BATCH = 16;
    private static final VarHandle CONSUMING, NEXT, COUNT;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            CONSUMING = l.findVarHandle(WorkStealingScheduler.class, "consuming", int.class);
            NEXT = l.findVarHandle(BatchFields.class, "next", int.class);
            COUNT = l.findVarHandle(BatchFields.class, "count", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final MpscUnboundedXaddArrayQueue<Task<?>> shared = new MpscUnboundedXaddArrayQueue<>(1024);
    private final MpscUnboundedXaddArrayQueue<Task<?>> pinned = new MpscUnboundedXaddArrayQueue<>(64);
    @SuppressWarnings("unused") // through CONSUMING: 1 while the owner or a thief polls `shared`
    private volatile int consuming;

    private final Batch batch = new Batch();
    private final Backlog backlog = new Backlog();

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
        Batch b = batch;
        Task<?> t = pinned.poll();
        if (t != null) {
            b.taken++;
            return t;
        }
        int i = b.next;
        if (i == b.count) {
            if (refill(b) == 0) {
                return null;
            }
            i = 0;
        }
        t = b.tasks[i];
        b.tasks[i] = null;
        NEXT.setOpaque(b, i + 1);
        b.taken++;
        return t;
    }

    /** Takes the next batch from the shared queue; returns its size. */
    private int refill(Batch b) {
        if (shared.isEmpty()) {
            return 0;
        }
        // A thief holds it for one batch. Briefly: a thief descheduled while holding it must not
        // have the owner spin for a time slice; given up, the loop polls I/O and tries next turn.
        for (int spins = 0; !CONSUMING.compareAndSet(this, 0, 1); spins++) {
            if (spins == 64) {
                return 0;
            }
            Thread.onSpinWait();
        }
        int n = 0;
        try {
            Task<?> t;
            while (n < BATCH && (t = shared.poll()) != null) {
                b.tasks[n++] = t;
            }
        } finally {
            CONSUMING.setRelease(this, 0);
        }
        NEXT.setOpaque(b, 0);
        COUNT.setOpaque(b, n);
        boolean behind = n == BATCH; // a full batch: more may wait; written only when it changes
        if (backlog.behind != behind) {
            backlog.behind = behind;
        }
        return n;
    }

    @Override
    public Task<?> steal() {
        if (shared.isEmpty() || !CONSUMING.compareAndSet(this, 0, 1)) {
            return null; // nothing to take, or the owner or another thief is taking
        }
        try {
            return shared.poll();
        } finally {
            CONSUMING.setRelease(this, 0);
        }
    }

    /**
     * Takes half the victim's waiting tasks (at most a batch) into this worker's batch, under the
     * victim's consumer lock: one task at a time, thief and owner would fight over the victim's
     * queue for each. Whether the victim has tasks waiting costs two cache misses on its queue, so
     * a thief that has just run tasks of its own asks only the victim's backlog flag (set when its
     * last batch came full); an idle one (nothing run since it last looked) counts the queue, so a
     * victim stuck in a long task is robbed within the thief's idle timeout.
     */
    @Override
    public int stealFrom(TaskScheduler victim) {
        if (!(victim instanceof WorkStealingScheduler v)) {
            return TaskScheduler.super.stealFrom(victim);
        }
        Batch b = batch;
        boolean idle = b.taken == b.takenAtLastLook;
        b.takenAtLastLook = b.taken;
        if (b.next != b.count || !(idle ? !v.shared.isEmpty() : v.backlog.behind)
                || !CONSUMING.compareAndSet(v, 0, 1)) {
            return 0;
        }
        int waiting = v.shared.size();
        int n = 0, want = Math.min(BATCH, (waiting + 1) / 2);
        try {
            Task<?> t;
            while (n < want && (t = v.shared.poll()) != null) {
                b.tasks[n++] = t;
            }
        } finally {
            CONSUMING.setRelease(v, 0);
        }
        NEXT.setOpaque(b, 0);
        COUNT.setOpaque(b, n);
        b.takenAtLastLook += n; // running only what it stole leaves it idle: it looks again, fully
        return n;
    }

    @Override
    public boolean hasTasks() {
        Batch b = batch;
        return (int) COUNT.getOpaque(b) > (int) NEXT.getOpaque(b) || !shared.isEmpty() || !pinned.isEmpty();
    }

    @Override
    public int size() {
        // exact on the owner's thread; from others the batch's share may be a moment stale
        Batch b = batch;
        return Math.max(0, (int) COUNT.getOpaque(b) - (int) NEXT.getOpaque(b)) + shared.size() + pinned.size();
    }

    // ---------------------------------------------------------------- the owner's batch

    /**
     * Written by the owner on every task, so on cache lines of its own: producers read this
     * scheduler's queues on every enqueue. Padding by inheritance (a superclass's fields come first).
     */
    @SuppressWarnings("unused")
    private abstract static class PadBefore {
        long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
    }

    private abstract static class BatchFields extends PadBefore {
        final Task<?>[] tasks = new Task<?>[BATCH];
        int next;  // the owner's; read opaquely by size()
        int count; // the owner's; read opaquely by size()
        long taken, takenAtLastLook; // the owner's: tasks dequeued, and their number at its last steal
    }

    /** Whether the owner is behind: what thieves read first, on a line written only when it changes. */
    private abstract static class BacklogFields extends PadBefore {
        volatile boolean behind;
    }

    @SuppressWarnings("unused")
    private static final class Backlog extends BacklogFields {
        long q00, q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;
    }

    @SuppressWarnings("unused")
    private static final class Batch extends BatchFields {
        long q00, q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;
    }
}
