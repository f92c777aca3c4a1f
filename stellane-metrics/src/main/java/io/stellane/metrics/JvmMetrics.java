package io.stellane.metrics;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The JVM's and the process's own meters, from Micrometer's binders: memory pools and buffers
 * ({@code jvm_memory_*}, {@code jvm_buffer_*}), garbage collection ({@code jvm_gc_*}), threads
 * ({@code jvm_threads_*}), class loading ({@code jvm_classes_*}), CPU ({@code system_cpu_*},
 * {@code process_cpu_*}), uptime ({@code process_uptime_seconds}, {@code process_start_time_seconds}) and
 * open files ({@code process_files_*}).
 *
 * <pre>{@code
 * StellaneMetrics metrics = StellaneMetrics.prometheus();
 * JvmMetrics jvm = JvmMetrics.bind(metrics.registry());
 * // ... at shutdown
 * jvm.close();
 * }</pre>
 *
 * <p>Opt-in rather than part of {@link StellaneMetrics}: an application whose registry already has these
 * binders (a framework's) binds them once. The meters read live JVM values when the registry asks; the
 * garbage-collection meters listen to the collectors' notifications until {@link #close()}. The meters
 * stay in the registry after {@code close} (closing the registry removes them).
 *
 * <p>Threading: {@link #bind} and {@link #close} may be called from any thread.
 */
public final class JvmMetrics implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(JvmMetrics.class);

    private final List<AutoCloseable> closeables;

    private JvmMetrics(List<AutoCloseable> closeables) {
        this.closeables = closeables;
    }

    /** Binds the JVM and process meters to {@code registry}. */
    public static JvmMetrics bind(MeterRegistry registry) {
        Objects.requireNonNull(registry, "registry");
        List<MeterBinder> binders = List.of(new JvmMemoryMetrics(), new JvmGcMetrics(), new JvmThreadMetrics(),
                new ClassLoaderMetrics(), new ProcessorMetrics(), new UptimeMetrics(), new FileDescriptorMetrics());
        List<AutoCloseable> closeables = new ArrayList<>();
        for (MeterBinder b : binders) {
            b.bindTo(registry);
            if (b instanceof AutoCloseable c) {
                closeables.add(c);
            }
        }
        return new JvmMetrics(closeables);
    }

    /** Stops the binders that listen (the collectors' notifications). Idempotent. */
    @Override
    public synchronized void close() {
        for (AutoCloseable c : closeables) {
            try {
                c.close();
            } catch (Exception e) {
                log.warn("closing {} failed", c.getClass().getSimpleName(), e);
            }
        }
        closeables.clear();
    }
}
