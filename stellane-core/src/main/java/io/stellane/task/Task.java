package io.stellane.task;

import io.stellane.StellaneException;
import io.stellane.internal.TurnClock;

import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * The unit of asynchronous work: a computation that produces a {@code T} or fails.
 *
 * <p>A task is <em>lazy</em>: creating one runs nothing. It starts once, when the runtime runs it
 * ({@code Runtime.schedule}), when something awaits it, or when a task composed from it starts. A
 * task given to the runtime runs on the worker it was placed on: awaiting it waits for that.
 * Java has no coroutines, so the closest honest equivalent of {@code co_await} is composition
 * ({@link #map}, {@link #flatMap}, {@link #recover}, {@link #timeout}) for code on a worker, and
 * {@link #await()} for code on a virtual thread.
 *
 * <h2>Where code runs</h2>
 * A task started on a worker has that worker as its <em>home</em>: its body runs there, and results
 * that arrive on other threads (a {@link #blocking} call's virtual thread, a foreign
 * {@link CompletionStage}) hop back to it before continuations run, so a handler's whole chain
 * stays on its connection's event loop. A task started elsewhere runs its body on the starting
 * thread and continues on whatever thread completes it.
 *
 * <h2>Threading</h2>
 * All methods are thread-safe. {@link #await()} must not be called on a worker: it throws at once
 * there, because parking an event loop stalls every connection on it.
 *
 * <h2>Errors and cancellation</h2>
 * A body that throws fails its task; nothing escapes to the worker. A failed task that was scheduled
 * on the runtime is counted and reported to the {@link TaskErrorHandler}s. {@link #cancel()}
 * completes a task with {@link CancellationException} and cancels what it is waiting for: the
 * upstream of a {@code map}, the timer of a {@code sleep}, the virtual thread of a {@code blocking}
 * call (interrupted), the other members of an {@code all}.
 */
public final class Task<T> extends TaskCell<T> {

    @FunctionalInterface
    public interface ThrowingSupplier<T> {
        T get() throws Exception;
    }

    @FunctionalInterface
    public interface ThrowingRunnable {
        void run() throws Exception;
    }

    private static final ThreadFactory BLOCKING_THREADS = Thread.ofVirtual().name("stellane-blocking-", 0).factory();

    private Task(String name, Body<T> body) {
        super(name, body);
    }

    /** A task whose body is a bare runnable or supplier (see {@link #start()}). */
    private static <T> Task<T> ofFunction(String name, Object function) {
        Task<T> t = new Task<>(name, (Body<T>) null);
        t.body = function;
        return t;
    }

    private Task(String name, Object result) {
        super(name, result, true);
    }

    // ---------------------------------------------------------------- creation

    /** A task that is already complete with {@code value}. */
    public static <T> Task<T> completed(T value) {
        return new Task<>("completed", value == null ? NIL : value);
    }

    /** A task that is already failed with {@code error}. */
    public static <T> Task<T> failed(Throwable error) {
        Objects.requireNonNull(error, "error");
        return new Task<>("failed", new Failure(error));
    }

    /** Computes a value on the thread that starts the task (a worker, when scheduled): must not block. */
    public static <T> Task<T> supply(ThrowingSupplier<? extends T> supplier) {
        Objects.requireNonNull(supplier, "supplier");
        if (supplier instanceof ThrowingRunnable) { // implements both: a stored body could not tell which
            return new Task<>("supply", self -> self.complete(supplier.get()));
        }
        return ofFunction("supply", supplier);
    }

    /** Runs an action on the thread that starts the task (a worker, when scheduled): must not block. */
    public static Task<Void> of(ThrowingRunnable action) {
        Objects.requireNonNull(action, "action");
        if (action instanceof ThrowingSupplier) { // implements both: a stored body could not tell which
            return new Task<>("run", self -> {
                action.run();
                self.complete(null);
            });
        }
        return ofFunction("run", action);
    }

    /**
     * Runs a blocking call (JDBC, file I/O, a blocking client) on its own virtual thread, so no worker
     * blocks; the result comes back to the home worker. Cancelling interrupts the virtual thread.
     */
    public static <T> Task<T> blocking(ThrowingSupplier<? extends T> call) {
        Objects.requireNonNull(call, "call");
        return new Task<>("blocking", self -> {
            Thread thread = BLOCKING_THREADS.newThread(() -> {
                long t0 = System.nanoTime(); // on the virtual thread, not the worker
                T value = null;
                Throwable error = null;
                try {
                    value = call.get();
                } catch (Throwable t) {
                    error = t;
                }
                self.completeBlocking(value, error, System.nanoTime() - t0);
            });
            self.addCancelAction(thread::interrupt);
            thread.start();
        });
    }

    /** Adapts a stage that is already running; its result hops to the home worker of whoever starts this task. */
    public static <T> Task<T> from(CompletionStage<T> stage) {
        Objects.requireNonNull(stage, "stage");
        return new Task<>("from", self -> {
            self.addCancelAction(() -> stage.toCompletableFuture().cancel(true));
            stage.whenComplete(self::completeAtHome);
        });
    }

    /**
     * Completes after {@code delay} on the home worker's timer: no thread is blocked. Started off the
     * runtime, it uses one shared daemon timer thread instead.
     */
    public static Task<Void> sleep(Duration delay) {
        long nanos = delay.toNanos();
        return new Task<>("sleep", self -> {
            Future<?> timer = self.scheduleTimer(() -> self.complete(null), nanos);
            self.addCancelAction(() -> timer.cancel(false));
        });
    }

    /** All of {@code tasks}, started together; their values in order. The first failure fails it and cancels the rest. */
    @SafeVarargs
    public static <T> Task<List<T>> all(Task<? extends T>... tasks) {
        return all(Arrays.asList(tasks));
    }

    /** All of {@code tasks}, started together; their values in order. The first failure fails it and cancels the rest. */
    public static <T> Task<List<T>> all(List<? extends Task<? extends T>> tasks) {
        List<Task<? extends T>> members = List.copyOf(tasks);
        return new Task<>("all", self -> {
            int n = members.size();
            if (n == 0) {
                self.complete(List.of());
                return;
            }
            Object[] values = new Object[n];
            AtomicInteger remaining = new AtomicInteger(n);
            self.addCancelAction(() -> members.forEach(Task::cancel));
            for (int i = 0; i < n; i++) {
                int index = i;
                Task<? extends T> member = members.get(i);
                member.start().whenDone((value, error) -> {
                    if (error != null) {
                        if (self.fail(unwrap(error))) {
                            members.forEach(Task::cancel);
                        }
                    } else {
                        values[index] = value;
                        if (remaining.decrementAndGet() == 0) {
                            @SuppressWarnings("unchecked")
                            List<T> list = (List<T>) Arrays.asList(values);
                            self.complete(list);
                        }
                    }
                });
            }
        });
    }

    /** The first of {@code tasks} to succeed; the others are then cancelled. Fails only when all fail. */
    @SafeVarargs
    public static <T> Task<T> any(Task<? extends T>... tasks) {
        return any(Arrays.asList(tasks));
    }

    /** The first of {@code tasks} to succeed; the others are then cancelled. Fails only when all fail. */
    public static <T> Task<T> any(List<? extends Task<? extends T>> tasks) {
        List<Task<? extends T>> members = List.copyOf(tasks);
        if (members.isEmpty()) {
            throw new IllegalArgumentException("Task.any needs at least one task");
        }
        return new Task<>("any", self -> {
            AtomicInteger remaining = new AtomicInteger(members.size());
            AtomicReference<Throwable> firstError = new AtomicReference<>();
            self.addCancelAction(() -> members.forEach(Task::cancel));
            for (Task<? extends T> member : members) {
                member.start().whenDone((value, error) -> {
                    if (error == null) {
                        if (self.complete(value)) {
                            members.forEach(Task::cancel);
                        }
                        return;
                    }
                    Throwable cause = unwrap(error);
                    if (!firstError.compareAndSet(null, cause)) {
                        firstError.get().addSuppressed(cause);
                    }
                    if (remaining.decrementAndGet() == 0) {
                        self.fail(firstError.get());
                    }
                });
            }
        });
    }

    // ---------------------------------------------------------------- metadata

    /** The name used in logs, stats and errors; set it with {@link #named}. */
    public String name() {
        return name;
    }

    /** Scheduling priority under the PRIORITY strategy: higher runs first. Default 0. */
    public int priority() {
        return priority;
    }

    /**
     * When this task was created: on a worker, the start of the loop turn that created it; elsewhere,
     * while some worker is awake, the clock it shares ({@link TurnClock}: at most its current turn
     * plus 50 µs early), else the clock at creation.
     */
    public Instant createdAt() {
        return Instant.now().minusNanos(System.nanoTime() - createdNanos);
    }

    /**
     * {@link System#nanoTime()} at creation, for measuring without a wall clock; on a worker, the
     * loop turn's clock ({@link Worker#loopNanos()}), elsewhere {@link TurnClock#recentOrNow()}.
     */
    public long createdNanos() {
        return createdNanos;
    }

    /** Names this task (for stats, profiling and error reports); returns {@code this}. */
    public Task<T> named(String name) {
        this.name = Objects.requireNonNull(name, "name");
        return this;
    }

    /** Sets the priority used by the PRIORITY strategy; returns {@code this}. */
    public Task<T> withPriority(int priority) {
        this.priority = priority;
        return this;
    }

    /** Under the AFFINITY strategy, tasks with equal keys run on the same worker; returns {@code this}. */
    public Task<T> withAffinityKey(Object key) {
        this.affinityKey = key;
        return this;
    }

    public Object affinityKey() {
        return affinityKey;
    }

    // ---------------------------------------------------------------- composition

    /** A task that applies {@code fn} to this task's value. */
    public <U> Task<U> map(Function<? super T, ? extends U> fn) {
        Objects.requireNonNull(fn, "fn");
        return new Task<>(name, self -> {
            self.addCancelAction(this::cancel);
            start().whenDone((value, error) -> {
                if (error != null) {
                    self.fail(unwrap(error));
                    return;
                }
                U mapped;
                try {
                    mapped = fn.apply(value);
                } catch (Throwable t) {
                    self.fail(t);
                    return;
                }
                self.complete(mapped);
            });
        });
    }

    /** A task that continues with the task {@code fn} makes from this task's value (monadic bind). */
    public <U> Task<U> flatMap(Function<? super T, ? extends Task<U>> fn) {
        Objects.requireNonNull(fn, "fn");
        return new Task<>(name, self -> {
            self.addCancelAction(this::cancel);
            start().whenDone((value, error) -> {
                if (error != null) {
                    self.fail(unwrap(error));
                    return;
                }
                Task<U> next;
                try {
                    next = Objects.requireNonNull(fn.apply(value), "flatMap function returned null");
                } catch (Throwable t) {
                    self.fail(t);
                    return;
                }
                self.follow(next);
            });
        });
    }

    /** Same as {@link #flatMap}: reads better in chains of steps. */
    public <U> Task<U> then(Function<? super T, ? extends Task<U>> fn) {
        return flatMap(fn);
    }

    /** A task that replaces a failure of this one with {@code fn}'s value; a cancellation is not recovered. */
    public Task<T> recover(Function<? super Throwable, ? extends T> fn) {
        Objects.requireNonNull(fn, "fn");
        return recoverWith(error -> Task.completed(fn.apply(error)));
    }

    /** A task that continues with the task {@code fn} makes from this one's failure; a cancellation is not recovered. */
    public Task<T> recoverWith(Function<? super Throwable, ? extends Task<T>> fn) {
        Objects.requireNonNull(fn, "fn");
        return new Task<>(name, self -> {
            self.addCancelAction(this::cancel);
            start().whenDone((value, error) -> {
                if (error == null) {
                    self.complete(value);
                    return;
                }
                Throwable cause = unwrap(error);
                if (cause instanceof CancellationException) {
                    self.fail(cause);
                    return;
                }
                Task<T> next;
                try {
                    next = Objects.requireNonNull(fn.apply(cause), "recover function returned null");
                } catch (Throwable t) {
                    self.fail(t);
                    return;
                }
                self.follow(next);
            });
        });
    }

    /**
     * A task that fails with {@link TimeoutException} if this one is not done within {@code limit},
     * and then cancels this one.
     */
    public Task<T> timeout(Duration limit) {
        long nanos = limit.toNanos();
        return new Task<>(name, self -> {
            // Whichever comes first, the deadline or this task's outcome, decides; on a time-out this
            // task is cancelled before the failure is published, so whoever sees it sees both.
            AtomicBoolean decided = new AtomicBoolean();
            Future<?> timer = self.scheduleTimer(() -> {
                if (decided.compareAndSet(false, true)) {
                    cancel();
                    self.fail(new TimeoutException("Task '" + name + "' timed out after " + limit));
                }
            }, nanos);
            self.addCancelAction(() -> {
                timer.cancel(false);
                cancel();
            });
            start().whenDone((value, error) -> {
                if (!decided.compareAndSet(false, true)) {
                    return;
                }
                timer.cancel(false);
                if (error != null) {
                    self.fail(unwrap(error));
                } else {
                    self.complete(value);
                }
            });
        });
    }

    /** Calls {@code action} with the value or the failure once this task is done; starts it. Returns {@code this}. */
    public Task<T> onComplete(BiConsumer<? super T, ? super Throwable> action) {
        Objects.requireNonNull(action, "action");
        start().whenDone(action);
        return this;
    }

    // ---------------------------------------------------------------- running and waiting

    /**
     * Starts the task on the calling thread if it has not started yet; returns {@code this}.
     * On a worker, that worker becomes the task's home. A task the runtime has queued is left to
     * the worker it was placed on. Never throws: a body's exception fails the task.
     */
    public Task<T> start() {
        startIfNew();
        return this;
    }

    /**
     * Runs a scheduled task on the calling worker: starts it, and records how long its body ran in
     * the worker's stats. For backends: this is how an {@code EventLoopBackend} executes what it was
     * given. Never throws.
     */
    public void run() {
        Worker worker = Worker.current();
        if (worker == null) {
            startQueued();
        } else {
            worker.run(this);
        }
    }

    /**
     * Waits for the value, starting the task first if needed. On a virtual thread this parks it;
     * on another platform thread it blocks. Rethrows an unchecked failure as it was; a checked one
     * is wrapped in {@link TaskExecutionException}.
     *
     * @throws StellaneException at once when called on a worker thread
     */
    public T await() {
        refuseOnWorker();
        start();
        if (done() == null) {
            CountDownLatch done = new CountDownLatch(1);
            whenDone((v, e) -> done.countDown());
            try {
                done.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new StellaneException("interrupted while awaiting task '" + name + "'", e);
            }
        }
        return valueOrThrow();
    }

    /** Like {@link #await()}, waiting at most {@code limit}; then throws {@link TaskExecutionException} caused by {@link TimeoutException}. */
    public T await(Duration limit) {
        refuseOnWorker();
        start();
        if (done() == null) {
            CountDownLatch done = new CountDownLatch(1);
            whenDone((v, e) -> done.countDown());
            try {
                if (!done.await(limit.toNanos(), TimeUnit.NANOSECONDS)) {
                    throw new TaskExecutionException(name, new TimeoutException("not done within " + limit));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new StellaneException("interrupted while awaiting task '" + name + "'", e);
            }
        }
        return valueOrThrow();
    }

    /**
     * Cancels this task if it is not done: it completes with {@link CancellationException} and cancels
     * what it waits for. A task cancelled before it starts never runs its body.
     *
     * @return whether this call cancelled it
     */
    public boolean cancel() {
        return cancelCell();
    }

    public boolean isDone() {
        return done() != null;
    }

    public boolean isCancelled() {
        return done() instanceof Failure f && f.error() instanceof CancellationException;
    }

    /** Done with a failure (cancellation included). */
    public boolean isFailed() {
        return done() instanceof Failure;
    }

    public boolean isStarted() {
        int s = state;
        return s == STARTED || s == RAN_FROM_QUEUE;
    }

    /** The value of a task that completed successfully; throws {@link IllegalStateException} otherwise. */
    @SuppressWarnings("unchecked")
    public T resultNow() {
        Object r = done();
        if (r == null || r instanceof Failure) {
            throw new IllegalStateException("task '" + name + "' has " + (r == null ? "no result yet" : "failed"));
        }
        return r == NIL ? null : (T) r;
    }

    /** The failure of a task that failed; throws {@link IllegalStateException} otherwise. */
    public Throwable exceptionNow() {
        Object r = done();
        if (r instanceof Failure f) {
            return f.error();
        }
        throw new IllegalStateException("task '" + name + "' has " + (r == null ? "no result yet" : "not failed"));
    }

    /** Starts the task and returns a future of its result (a copy: completing it does not touch the task). */
    public CompletableFuture<T> toCompletableFuture() {
        CompletableFuture<T> cf = new CompletableFuture<>();
        start().whenDone((v, e) -> {
            if (e != null) {
                cf.completeExceptionally(e);
            } else {
                cf.complete(v);
            }
        });
        return cf;
    }

    @Override
    public String toString() {
        Object r = done();
        String s = r != null ? (r instanceof Failure ? "failed" : "completed")
                : switch (state) {
                    case NEW -> "new";
                    case QUEUED -> "queued";
                    default -> "running";
                };
        return "Task[" + name + ", " + s + (priority != 0 ? ", priority " + priority : "") + "]";
    }

    // ---------------------------------------------------------------- for the runtime

    /** The worker this task must run on, or {@code -1}. */
    public int pinnedWorker() {
        return pinnedWorker;
    }

    // ---------------------------------------------------------------- completion plumbing

    @SuppressWarnings("unchecked")
    private T valueOrThrow() {
        Object r = done();
        if (r instanceof Failure f) {
            throw rethrow(f.error());
        }
        return r == NIL ? null : (T) r;
    }

    private void follow(Task<T> next) {
        addCancelAction(next::cancel);
        next.start().whenDone((v, e) -> settle(v, e));
    }

    private void refuseOnWorker() {
        Worker w = Worker.current();
        if (w != null) {
            throw new StellaneException("Task.await() called on worker " + w.id() + " (" + Thread.currentThread().getName()
                    + ") for task '" + name + "': awaiting would block the event loop and every connection on it. "
                    + "Compose instead (task.map/flatMap/onComplete), or run the calling code as Task.blocking(...) "
                    + "or a blocking handler, which run on virtual threads where await() is allowed.");
        }
    }

    private RuntimeException rethrow(Throwable cause) {
        cause = unwrap(cause);
        if (cause instanceof RuntimeException re) {
            return re;
        }
        if (cause instanceof Error err) {
            throw err;
        }
        return new TaskExecutionException(name, cause);
    }

}
