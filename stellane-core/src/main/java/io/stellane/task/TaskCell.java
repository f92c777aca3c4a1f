package io.stellane.task;

import io.stellane.StellaneException;
import io.stellane.internal.TaskAccess;
import io.stellane.internal.TurnClock;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * The state cell of a {@link Task}, apart from its user API: whether it is new, queued or running,
 * its outcome or the callbacks waiting for it, its home worker and the runtime's placement, and the
 * harness that starts a body once and completes it once. {@code Task} extends it, so a task stays
 * one object; nothing outside this package sees the cell, and the runtime reaches the two hooks it
 * needs through {@link TaskAccess}.
 */
abstract class TaskCell<T> {

    /** How a task produces its result once started; it completes {@code self} exactly once, now or later. */
    @FunctionalInterface
    interface Body<T> {
        void start(Task<T> self) throws Throwable;
    }

    /**
     * {@code NEW} until started: by a caller ({@code STARTED}), or once the runtime queued it
     * ({@code QUEUED}) only by the worker the queue hands it to ({@code RAN_FROM_QUEUE}). That worker
     * alone leaves {@code QUEUED}, so it claims the task with a plain store instead of an atomic
     * operation on a line the producer just wrote; and a queued task awaited elsewhere still runs
     * where the runtime placed it.
     */
    static final int NEW = 0, STARTED = 1, QUEUED = 2, RAN_FROM_QUEUE = 3;

    /** Stands for a {@code null} value in {@link #outcome}. */
    static final Object NIL = new Object();

    static final VarHandle STATE, OUTCOME;

    static {
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            STATE = lookup.findVarHandle(TaskCell.class, "state", int.class);
            OUTCOME = lookup.findVarHandle(TaskCell.class, "outcome", Object.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
        TaskAccess.install(new TaskAccess() {
            @Override
            public void markScheduled(Task<?> task, int pinnedWorker, long enqueuedNanos) {
                task.markScheduled(pinnedWorker, enqueuedNanos);
            }

            @Override
            public void startQueued(Task<?> task) {
                task.startQueued();
            }

            @Override
            public long enqueuedNanos(Task<?> task) {
                return task.enqueuedNanos;
            }
        });
    }

    /** A failed task's {@link #outcome}. */
    record Failure(Throwable error) {
    }

    /** A stack of completion callbacks, kept in {@link #outcome} while the task is pending. */
    record Listener(BiConsumer<Object, Throwable> action, Listener next) {
    }

    final long createdNanos = creationClock();
    /**
     * A {@link Body}, or for {@link Task#of} and {@link Task#supply} the caller's function itself:
     * one object less per task for the most common kinds.
     */
    Object body;
    volatile int state; // NEW, STARTED, QUEUED or RAN_FROM_QUEUE
    /**
     * One field for both states, so completing takes one atomic operation: while pending, {@code null}
     * or the {@link Listener} stack; once done, {@link #NIL}, a {@link Failure} or the value (no user
     * value can be a Listener: the type is package-private).
     */
    volatile Object outcome;
    Worker home; // set before the body starts; threads the body starts see it
    volatile Runnable onCancel;
    String name;
    int priority;

    // Placement, written by the runtime before the task is queued and read by the worker that runs it.
    int pinnedWorker = -1;
    Object affinityKey;
    long enqueuedNanos;

    TaskCell(String name, Object body) {
        this.name = name;
        this.body = body;
    }

    /** An already completed cell: {@code outcome} is {@link #NIL}, a {@link Failure} or the value. */
    TaskCell(String name, Object outcome, boolean completed) {
        this.name = name;
        this.outcome = outcome;
        this.state = STARTED;
    }

    /**
     * A clock read per task would be a tenth of a request's cost on the HTTP hot path: workers share
     * the turn's, other threads a busy worker's ({@link TurnClock}).
     */
    static long creationClock() {
        return Thread.currentThread() instanceof WorkerThread t ? t.worker().loopNanos() : TurnClock.recentOrNow();
    }

    /**
     * For workers (through {@link TaskAccess}): starts a task their queue handed them. One the runtime
     * queued ({@link #markScheduled}) is claimed with a plain store (the queue gave it to this thread alone); one
     * handed to a backend directly is claimed like {@link Task#start()}. A queued task cancelled before
     * this call does not run. Never throws.
     */
    void startQueued() {
        int s = state;
        if (s == QUEUED) {
            // store first, then read: the line comes over once, owned, instead of shared then owned
            STATE.setOpaque(this, RAN_FROM_QUEUE);
            if (done() == null) {
                begin();
            }
        } else if (s == NEW && STATE.compareAndSet(this, NEW, STARTED)) {
            begin();
        }
    }

    void begin() {
        Object b = body;
        body = null;
        home = Worker.current();
        try {
            if (b instanceof Task.ThrowingRunnable r) {
                r.run();
                complete(null);
            } else if (b instanceof Task.ThrowingSupplier<?> f) {
                @SuppressWarnings("unchecked") T value = (T) f.get();
                complete(value);
            } else {
                @SuppressWarnings("unchecked") Body<T> start = (Body<T>) b;
                start.start((Task<T>) this);
            }
        } catch (Throwable t) {
            fail(t);
        }
    }

    /**
     * Placement set by the runtime (through {@link TaskAccess}) when it queues this task:
     * {@code pinnedWorker} is the worker it must run on ({@code -1}: any).
     */
    void markScheduled(int pinnedWorker, long enqueuedNanos) {
        if (!STATE.compareAndSet(this, NEW, QUEUED)) { // the producer wrote this line: cheap
            throw new StellaneException("task '" + name + "' "
                    + (state == QUEUED ? "is already scheduled" : "has already started") + "; a task runs once");
        }
        // published to the worker by the queue, which no one reaches before this call returns
        this.pinnedWorker = pinnedWorker;
        this.enqueuedNanos = enqueuedNanos;
    }

    /** Completes with {@link CancellationException} unless done, then cancels what the body set up. */
    boolean cancelCell() {
        STATE.compareAndSet(this, NEW, STARTED); // a new task that is cancelled must not run (a queued one checks)
        if (!settleResult(new Failure(new CancellationException("task '" + name + "' was cancelled")))) {
            return false;
        }
        Runnable action = onCancel;
        if (action != null) {
            onCancel = null;
            try {
                action.run();
            } catch (Throwable ignored) {
                // cancelling upstream work is best effort; this task is already cancelled
            }
        }
        return true;
    }

    /** Claims a new task for the calling thread and runs its body; false when it had been claimed. */
    final boolean startIfNew() {
        if (state == NEW && STATE.compareAndSet(this, NEW, STARTED)) {
            begin();
            return true;
        }
        return false;
    }

    boolean complete(T value) {
        return settleResult(value == null ? NIL : value);
    }

    boolean fail(Throwable error) {
        if (!settleResult(new Failure(error))) {
            return false;
        }
        Worker w = home;
        if (state == RAN_FROM_QUEUE && w != null && !(error instanceof CancellationException)) {
            w.taskFailed((Task<?>) this, error);
        }
        return true;
    }

    /** The outcome of a completed task, or {@code null} while it is pending. */
    Object done() {
        Object o = outcome;
        return o instanceof Listener ? null : o;
    }

    /** Sets the outcome once (one atomic operation); then runs the listeners, oldest first. */
    boolean settleResult(Object r) {
        for (;;) {
            Object cur = outcome;
            if (cur != null && !(cur instanceof Listener)) {
                return false; // already done
            }
            if (OUTCOME.compareAndSet(this, cur, r)) {
                if (cur instanceof Listener stack) {
                    if (stack.next == null) {
                        notify(stack.action, r);
                    } else {
                        Listener reversed = null;
                        for (Listener l = stack; l != null; l = l.next) {
                            reversed = new Listener(l.action, reversed);
                        }
                        for (Listener l = reversed; l != null; l = l.next) {
                            notify(l.action, r);
                        }
                    }
                }
                return true;
            }
        }
    }

    /** Calls {@code action} with the value or the failure when this task completes (at once if it has). */
    @SuppressWarnings("unchecked")
    void whenDone(BiConsumer<? super T, ? super Throwable> action) {
        BiConsumer<Object, Throwable> a = (BiConsumer<Object, Throwable>) action;
        for (;;) {
            Object cur = outcome;
            if (cur != null && !(cur instanceof Listener)) {
                notify(a, cur);
                return;
            }
            if (OUTCOME.compareAndSet(this, cur, new Listener(a, (Listener) cur))) {
                return;
            }
        }
    }

    static void notify(BiConsumer<Object, Throwable> action, Object r) {
        try {
            if (r instanceof Failure f) {
                action.accept(null, f.error);
            } else {
                action.accept(r == NIL ? null : r, null);
            }
        } catch (Throwable t) {
            // a listener's own failure must not stop the others; composed tasks catch theirs
            Thread.currentThread().getUncaughtExceptionHandler().uncaughtException(Thread.currentThread(), t);
        }
    }

    /** Completes from a foreign thread: hops to the home worker first, when there is one. */
    void completeAtHome(T value, Throwable error) {
        Worker w = home;
        if (w == null || Worker.current() == w) {
            settle(value, error);
        } else {
            try {
                w.execute(() -> settle(value, error));
            } catch (Throwable rejected) {
                // the home worker is gone (stopped): complete here rather than lose the result
                settle(value, error);
            }
        }
    }

    /** A blocking call ended: its home worker counts it, then the result is delivered there. */
    void completeBlocking(T value, Throwable error, long nanos) {
        Worker w = home;
        if (w == null) {
            settle(value, error);
            return;
        }
        try {
            w.execute(() -> {
                Worker here = Worker.current(); // w, or its heir when w retired meanwhile
                (here != null ? here : w).blockingDone((Task<?>) this, nanos, error);
                settle(value, error);
            });
        } catch (Throwable rejected) {
            settle(value, error); // the home worker is gone (stopped): complete here rather than lose the result
        }
    }

    void settle(T value, Throwable error) {
        if (error != null) {
            fail(unwrap(error));
        } else {
            complete(value);
        }
    }

    /** Cancel actions must be idempotent: a race with {@link #cancelCell()} may run one twice. */
    void addCancelAction(Runnable action) {
        Runnable previous = onCancel;
        onCancel = previous == null ? action : () -> {
            previous.run();
            action.run();
        };
        if (done() instanceof Failure f && f.error instanceof CancellationException) {
            // cancelled while the body was starting: cancel what it just set up
            onCancel = null;
            action.run();
        }
    }

    Future<?> scheduleTimer(Runnable action, long nanos) {
        Worker w = home;
        if (w != null) {
            return w.schedule(action, nanos, TimeUnit.NANOSECONDS);
        }
        return FallbackTimer.INSTANCE.schedule(action, nanos, TimeUnit.NANOSECONDS);
    }

    static Throwable unwrap(Throwable error) {
        while (error instanceof CompletionException && error.getCause() != null) {
            error = error.getCause();
        }
        return error;
    }

    /** One daemon timer for tasks started off the runtime (tests, virtual threads). */
    static final class FallbackTimer {
        static final ScheduledExecutorService INSTANCE = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "stellane-timer");
            t.setDaemon(true);
            return t;
        });
    }
}
