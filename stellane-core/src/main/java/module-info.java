/**
 * Stellane's core: {@code Task}, the runtime and its workers, backends, scheduling strategies,
 * configuration and stats. Exports its API and its {@code spi} packages; {@code io.stellane.logging}
 * only to Stellane's own modules.
 */
module io.stellane.core {
    requires transitive io.netty.transport;
    requires transitive io.netty.common;
    requires transitive org.slf4j;
    requires io.netty.transport.classes.epoll;
    requires io.netty.transport.classes.io_uring;
    requires org.jctools.core;
    requires java.management;
    requires com.fasterxml.jackson.databind;
    requires com.fasterxml.jackson.dataformat.toml;

    exports io.stellane;
    exports io.stellane.backend;
    exports io.stellane.backend.spi;
    exports io.stellane.config;
    exports io.stellane.runtime;
    exports io.stellane.scheduler;
    exports io.stellane.scheduler.spi;
    exports io.stellane.stats;
    exports io.stellane.task;
    exports io.stellane.logging to io.stellane.recovery, io.stellane.recovery.rocksdb, io.stellane.cluster, io.stellane.server,
            io.stellane.metrics, io.stellane.dashboard, io.stellane.app, io.stellane.examples;

    uses io.stellane.backend.spi.BackendProvider;
    uses io.stellane.scheduler.spi.TaskSchedulerProvider;
}
