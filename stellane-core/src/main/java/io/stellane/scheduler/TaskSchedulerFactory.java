package io.stellane.scheduler;

/** Makes the queue of one worker; registered with {@code Runtime.registerScheduler(name, factory)}. */
@FunctionalInterface
public interface TaskSchedulerFactory {
    TaskScheduler create(int workerId);
}
