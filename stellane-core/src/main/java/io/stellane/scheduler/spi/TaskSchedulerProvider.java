package io.stellane.scheduler.spi;

import io.stellane.scheduler.TaskScheduler;

/**
 * A custom scheduler found through {@link java.util.ServiceLoader}
 * ({@code META-INF/services/io.stellane.scheduler.spi.TaskSchedulerProvider}); used with strategy
 * CUSTOM and {@code runtime.custom_scheduler = name()}.
 */
public interface TaskSchedulerProvider {
    String name();

    TaskScheduler create(int workerId);
}
