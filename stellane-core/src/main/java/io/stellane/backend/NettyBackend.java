package io.stellane.backend;

import io.netty.channel.IoEventLoop;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.ManualIoEventLoop;
import io.netty.channel.ServerChannel;
import io.netty.channel.socket.SocketChannel;
import io.stellane.internal.TurnClock;
import io.stellane.scheduler.TaskScheduler;
import io.stellane.task.Task;
import io.stellane.task.Worker;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The built-in backends ({@code nio}, {@code epoll}, {@code io_uring}): a worker thread that turns a
 * Netty {@link ManualIoEventLoop} between batches of tasks from the strategy's queue.
 *
 * <h2>How it works</h2>
 * Each turn: run up to {@code maxTasksPerLoop} tasks from the queue (stealing when it is empty and
 * the strategy steals), then poll I/O once. The poll does not block while tasks are queued; when
 * there is nothing to do the thread sleeps in the I/O wait ({@code epoll_wait}, {@code select},
 * {@code io_uring_enter}) for at most {@code idleTimeout}. A producer on another thread wakes a
 * sleeping loop through the I/O handler, once: the first producer to clear the {@code sleeping}
 * flag makes the system call, the others see it cleared. The flag (written before the loop checks
 * the queue, read after the producer enqueues) makes a lost wake-up impossible and spares the
 * system call while the loop is busy. Netty's own work (channel events, {@code execute} and timers
 * on the loop) runs inside the poll.
 */
final class NettyBackend implements IoBackend {

    private final String name;
    private final IoHandlerFactory ioFactory;
    private final Class<? extends ServerChannel> serverChannelType;
    private final Class<? extends SocketChannel> socketChannelType;
    private final boolean reusePort;

    private Worker worker;
    private TaskScheduler queue;
    private Loop loop;
    private volatile boolean running;
    private volatile boolean stopping;
    private volatile boolean sleeping;
    private final CountDownLatch terminated = new CountDownLatch(1);
    private static final VarHandle SLEEPING;

    static {
        try {
            SLEEPING = MethodHandles.lookup().findVarHandle(NettyBackend.class, "sleeping", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    public NettyBackend(String name, IoHandlerFactory ioFactory, Class<? extends ServerChannel> serverChannelType,
                        Class<? extends SocketChannel> socketChannelType, boolean reusePort) {
        this.name = name;
        this.ioFactory = ioFactory;
        this.serverChannelType = serverChannelType;
        this.socketChannelType = socketChannelType;
        this.reusePort = reusePort;
    }

    @Override
    public void bind(Worker worker) {
        if (this.worker != null) {
            throw new BackendException(name, "already bound to worker " + this.worker.id());
        }
        this.worker = worker;
        this.queue = worker.scheduler();
        try {
            this.loop = new Loop(worker.thread(), ioFactory);
        } catch (Throwable t) {
            throw new BackendException(name, "cannot create the I/O loop: " + t, t);
        }
    }

    @Override
    public void run() {
        if (loop == null) {
            throw new BackendException(name, "run() before bind()");
        }
        running = true;
        try {
            final TaskScheduler queue = this.queue;
            while (true) {
                // With tasks to run, the turn's clock is read now and shared with threads off the
                // runtime that create tasks meanwhile (TurnClock); otherwise when first asked for.
                loop.turnNanos = 0;
                if (queue.hasTasks()) {
                    loopNanos();
                }
                // read each turn: updateConfig changes them live
                runTasks(queue, worker.maxTasksPerLoop());
                if (stopping && !queue.hasTasks()) {
                    break;
                }
                loop.turnNanos = 0;
                // Tasks left: poll I/O without waiting, then run more. None left: wait in the I/O poll
                // straight away (a non-blocking poll first would be one more system call per wake-up).
                if (queue.hasTasks()) {
                    loop.runNow();
                } else {
                    sleeping = true;
                    TurnClock.retract(worker.id());
                    try {
                        loop.run(worker.idleTimeoutNanos());
                    } finally {
                        sleeping = false;
                    }
                }
            }
            // Graceful: let channels close and Netty's queued work finish, then release the handler.
            loop.shutdownGracefully(0, 0, TimeUnit.NANOSECONDS);
            while (!loop.isTerminated()) {
                loop.runNow();
                runTasks(queue, Integer.MAX_VALUE);
            }
        } finally {
            TurnClock.retract(worker.id()); // a stopped loop's last turn must not stamp tasks created later
            running = false;
            terminated.countDown();
        }
    }

    private int runTasks(TaskScheduler queue, int budget) {
        int ran = 0;
        while (ran < budget) {
            Task<?> task = queue.dequeue();
            if (task == null) {
                task = worker.steal();
                if (task == null) {
                    break;
                }
            }
            task.run();
            ran++;
        }
        return ran;
    }

    @Override
    public void stop() {
        stopping = true;
        Loop l = loop;
        if (l != null && !l.inEventLoop()) {
            l.wakeup();
        }
    }

    @Override
    public void schedule(Task<?> task) {
        if (stopping && Thread.currentThread() != worker.thread()) {
            throw new BackendException(name, "worker " + worker.id() + " is stopping; it takes no new tasks");
        }
        queue.enqueue(task);
        wakeIfSleeping();
    }

    /**
     * {@link System#nanoTime()} read once per loop turn; call on the loop thread. The turn's first
     * reader after the I/O wait pays for the clock, the others share it.
     */
    @Override
    public long loopNanos() {
        Loop l = loop;
        long t = l.turnNanos;
        if (t == 0) {
            l.turnNanos = t = System.nanoTime();
            TurnClock.publish(t, worker.id());
        }
        return t;
    }

    public boolean isSleeping() {
        return sleeping;
    }

    @Override
    public boolean wakeIfSleeping() {
        // one wake-up per sleep: a burst of producers must not each pay for the system call
        if (sleeping && SLEEPING.compareAndSet(this, true, false)) {
            // Awake from now on: threads off the runtime may stamp tasks with this reading until the
            // loop's next turn publishes its own, instead of each reading the clock meanwhile. Before
            // the wake-up: published after, it could outlive a loop that already slept again.
            TurnClock.publish(System.nanoTime(), worker.id());
            loop.wakeup();
            return true;
        }
        return false;
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    @Override
    public int pendingTasks() {
        return queue == null ? 0 : queue.size();
    }

    /** Waits until {@link #run()} has returned. */
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
        return terminated.await(timeout, unit);
    }

    @Override
    public IoEventLoop ioEventLoop() {
        return loop;
    }

    @Override
    public Class<? extends ServerChannel> serverChannelType() {
        return serverChannelType;
    }

    @Override
    public Class<? extends SocketChannel> socketChannelType() {
        return socketChannelType;
    }

    @Override
    public boolean supportsReusePort() {
        return reusePort;
    }

    public String name() {
        return name;
    }

    @Override
    public String toString() {
        return "NettyBackend[" + name + (worker == null ? "" : ", worker " + worker.id()) + "]";
    }

    /**
     * Netty's manual loop, told not to block in the I/O wait while our queue has tasks. It also holds
     * the loop clock: written each turn, it must not share a cache line with the fields producers
     * read on every {@link #schedule}.
     */
    private final class Loop extends ManualIoEventLoop {
        long turnNanos; // 0 = not read yet this turn (loop thread only)

        Loop(Thread owner, IoHandlerFactory factory) {
            super(owner, factory);
        }

        @Override
        protected boolean canBlock() {
            return !queue.hasTasks() && !stopping;
        }
    }
}
