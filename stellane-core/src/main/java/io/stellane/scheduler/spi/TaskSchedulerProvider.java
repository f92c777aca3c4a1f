package io.stellane.scheduler.spi;

import io.stellane.scheduler.TaskSchedulerFactory;

/**
 * A scheduling strategy found through {@link java.util.ServiceLoader}
 * ({@code META-INF/services/io.stellane.scheduler.spi.TaskSchedulerProvider}); used with strategy
 * CUSTOM and {@code runtime.custom_scheduler = name()}.
 */
public interface TaskSchedulerProvider extends TaskSchedulerFactory {
    String name();
}
